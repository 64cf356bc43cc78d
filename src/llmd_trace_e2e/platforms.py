"""Choosing and starting a platform from the run's options (both entry points use this: the
pytest fixture and the CLI)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from .platform import Platform
from .run_options import RunOptions


@contextmanager
def start_platform(getoption: Callable[[str], object]) -> Iterator[Platform]:
    options = RunOptions.from_getoption(getoption)
    if options.platform == "local" and options.attach:
        from .local.attached import AttachedPlatform as chosen
    elif options.platform == "local":
        from .local.platform import LocalPlatform as chosen
    else:
        from .kind.platform import KindE2EPlatform as chosen
    with chosen.running(options) as running:
        yield running
