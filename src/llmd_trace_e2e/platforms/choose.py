"""The platforms by name: the one registry that `--platform` (the pytest plugin), the CLIs
(`llmd-trace-e2e local`, `llmd-trace-e2e kind`) and starting a run choose from. A new platform
is one entry here."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from llmd_trace_e2e.platforms.base import Platform
from llmd_trace_e2e.platforms.options import Option, RunOptions
from llmd_trace_e2e.deployment.traceability import check_traceable
from llmd_trace_e2e.runtime.errors import ConfigError


@dataclass(frozen=True)
class PlatformEntry:
    command_help: str  # what `llmd-trace-e2e NAME` does
    platform: Callable[[RunOptions], Any]  # the Platform class that runs these options
    check: Callable[[RunOptions], None]  # everything wrong with the input, in one line, before anything starts
    command: Callable[[list[str]], int]  # `llmd-trace-e2e NAME ...`


def _local_platform(options: RunOptions) -> Any:
    if options.attach:
        from llmd_trace_e2e.platforms.local.attached import AttachedPlatform

        return AttachedPlatform
    from llmd_trace_e2e.platforms.local.platform import LocalPlatform

    return LocalPlatform


def _check_local(options: RunOptions) -> None:
    from llmd_trace_e2e.deployment.profiles import load_profile

    if options.attach:
        from llmd_trace_e2e.platforms.local.attached import AttachedPlatform
        from llmd_trace_e2e.platforms.local.state import running_state, state_path

        if options.components:
            raise ConfigError("--component runs binaries on the local platform, not with --attach "
                              "(pass it to `llmd-trace-e2e local up`)")
        AttachedPlatform.check_options(options)
        state = running_state(state_path(options.artifacts))
        check_traceable(state.baseline, load_profile(state.profile))
        return
    from llmd_trace_e2e.platforms.local.platform import LocalPlatform

    profile, values, _ = LocalPlatform.resolve(options)
    check_traceable(values, profile)  # before the tools: a refusal needs none
    LocalPlatform.check_options(options)


def _local_command(argv: list[str]) -> int:
    from llmd_trace_e2e.platforms.local.stack import local_main

    return local_main(argv)


def _kind_platform(options: RunOptions) -> Any:
    from llmd_trace_e2e.platforms.kind.platform import KindE2EPlatform

    return KindE2EPlatform


def _check_kind(options: RunOptions) -> None:
    if options.components:
        raise ConfigError("--component runs binaries on the local platform, not with --platform kind "
                          "(load your image with --load-image)")
    _kind_platform(options).check_options(options)


def _kind_command(argv: list[str]) -> int:
    from llmd_trace_e2e.platforms.kind.cli import kind_main

    return kind_main(argv)


PLATFORMS: dict[str, PlatformEntry] = {
    "local": PlatformEntry("a local stack that stays up: up, status, down (see `local --help`)",
                           _local_platform, _check_local, _local_command),
    "kind": PlatformEntry("the kind platform: --plan, up, down (see `kind --help`)",
                          _kind_platform, _check_kind, _kind_command),
}

PLATFORM = Option("--platform", "where the e2e suite runs: local processes (default) or a kind cluster",
                  {"choices": tuple(PLATFORMS), "default": RunOptions.platform})


def chosen(options: RunOptions) -> PlatformEntry:
    try:
        return PLATFORMS[options.platform]
    except KeyError:
        raise ConfigError(f"unknown platform {options.platform!r}: use --platform "
                          f"{' or '.join(PLATFORMS)}") from None


@contextmanager
def start_platform(getoption: Callable[[str], object]) -> Iterator[Platform]:
    options = RunOptions.from_getoption(getoption)
    with chosen(options).platform(options).running(options) as running:
        yield running


def check_options(options: RunOptions) -> None:
    """Everything wrong with the run's input, in one line (a HarnessError), before anything starts:
    each platform's own checks, then values with which the suite could check nothing (sampler
    ratio 0 where the traces start, tracing off everywhere, an exporter that is not OTLP)."""
    chosen(options).check(options)
