"""Choosing and starting a platform from the run's options (both entry points use this: the
pytest fixture and the CLI)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from llmd_trace_e2e.platforms.base import Platform
from llmd_trace_e2e.platforms.options import RunOptions
from llmd_trace_e2e.deployment.traceability import check_traceable


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


def check_options(options: RunOptions) -> None:
    """Everything wrong with the run's input, in one line (a HarnessError), before anything starts:
    each platform's own checks, then values with which the suite could check nothing (sampler
    ratio 0 where the traces start, tracing off everywhere, an exporter that is not OTLP)."""
    if options.platform == "local" and options.attach:
        from llmd_trace_e2e.platforms.local.attached import AttachedPlatform
        from llmd_trace_e2e.platforms.local.state import running_state, state_path
        from llmd_trace_e2e.deployment.profiles import load_profile

        AttachedPlatform.check_options(options)
        state = running_state(state_path(options.artifacts))
        check_traceable(state.baseline, load_profile(state.profile))
    elif options.platform == "local":
        from llmd_trace_e2e.platforms.local.platform import LocalPlatform

        profile, values, _ = LocalPlatform.resolve(options)
        check_traceable(values, profile)  # before the tools: a refusal needs none
        LocalPlatform.check_options(options)
    else:
        from llmd_trace_e2e.platforms.kind.platform import KindE2EPlatform

        KindE2EPlatform.check_options(options)
