"""Choosing and starting a platform from the run's options (both entry points use this: the
pytest fixture and the CLI)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from llmd_trace_e2e.platforms.base import Platform
from llmd_trace_e2e.platforms.options import RunOptions


@contextmanager
def start_platform(getoption: Callable[[str], object]) -> Iterator[Platform]:
    options = RunOptions.from_getoption(getoption)
    if options.platform == "local" and options.attach:
        from llmd_trace_e2e.platforms.local.attached import AttachedPlatform as chosen
    elif options.platform == "local":
        from llmd_trace_e2e.platforms.local.platform import LocalPlatform as chosen
    else:
        from llmd_trace_e2e.platforms.kind.platform import KindE2EPlatform as chosen
    with chosen.running(options) as running:
        yield running
