"""Options are declared once (platforms/options.py, --platform with the registry in
platforms/choose.py) and read back the same way by pytest, the kind CLI and the local CLI; the kind
options fill KindOptions by name; each platform has one timeouts object, overridable by name."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.platforms.kind.cli import _parser as kind_parser
from llmd_trace_e2e.platforms.choose import PLATFORM, PLATFORMS
from llmd_trace_e2e.platforms.kind.options import KindOptions, Timeouts as KindTimeouts
from llmd_trace_e2e.platforms.kind.platform import kind_options
from llmd_trace_e2e.platforms.local.platform import Timeouts as LocalTimeouts
from llmd_trace_e2e.platforms.local.stack import build_parser as local_parser
from llmd_trace_e2e.platforms.options import KIND, RUN, RunOptions, with_overrides


def flags(parser) -> set[str]:
    return {flag for action in parser._actions for flag in action.option_strings}


def test_the_kind_cli_takes_every_run_and_kind_option():
    assert {o.flag for o in (*RUN, *KIND)} <= flags(kind_parser())


def test_local_up_takes_every_run_option():
    up = local_parser()._subparsers._group_actions[0].choices["up"]
    assert {o.flag for o in RUN} <= flags(up)


def test_the_kind_cli_and_pytest_read_the_same_typed_options():
    args = kind_parser().parse_args(["--gpu", "--cluster-name", "c1", "--load-image", "a:1", "--load-image", "b:2",
                                     "--values", "v.yaml", "--wait-timeout", "epp_ready=5"])
    options = RunOptions.read(lambda dest: getattr(args, dest, None))
    given = {k: v for k, v in options.kind.items() if v != getattr(KindOptions, k)}
    assert given == {"gpu": True, "cluster_name": "c1", "load_images": ("a:1", "b:2")}
    assert options.values_files == (Path("v.yaml"),)
    kind = kind_options(options)
    assert (kind.profile, kind.load_images, kind.timeouts.epp_ready) == ("kustomize-guide", ("a:1", "b:2"), 5.0)

    from_pytest = RunOptions.from_getoption({"gpu": True, "cluster_name": "c1", "load_images": ["a:1", "b:2"],
                                             "values": [Path("v.yaml")], "wait_timeout": ["epp_ready=5"]}.get)
    assert from_pytest == options


@pytest.mark.parametrize("timeouts", [LocalTimeouts(), KindTimeouts()], ids=["local", "kind"])
def test_each_platforms_timeouts_are_overridable_by_name(timeouts):
    name = next(iter(timeouts.__dataclass_fields__))
    assert getattr(with_overrides(timeouts, [f"{name}=7"]), name) == 7.0
    with pytest.raises(ConfigError, match=r"bad --wait-timeout 'nope=1': use NAME=SECONDS with NAME one of"):
        with_overrides(timeouts, ["nope=1"])
    with pytest.raises(ConfigError, match=r"is not a number of seconds"):
        with_overrides(timeouts, [f"{name}=soon"])


def test_each_kind_option_is_a_kindoptions_field_with_the_same_default():
    fields = {f.name: f for f in dataclasses.fields(KindOptions)}
    for option in KIND:
        assert option.dest in fields, f"{option.flag} keeps its value in {option.dest!r}: add that field to KindOptions"
        assert option.default == fields[option.dest].default, \
            f"{option.flag}'s default {option.default!r} differs from KindOptions.{option.dest}'s: declare it once"


def test_a_run_given_no_kind_options_gets_kindoptions_defaults():
    args = kind_parser().parse_args(["--plan"])
    assert kind_options(RunOptions.read(lambda dest: getattr(args, dest, None))) == \
        KindOptions(artifacts_dir=Path("artifacts"))


def test_platform_choices_are_the_registry():
    assert PLATFORM.kwargs["choices"] == tuple(PLATFORMS) == ("local", "kind")
    assert PLATFORM.dest == "platform" and PLATFORM.kwargs["default"] == RunOptions().platform


def test_kind_refuses_a_trace_backend_it_does_not_deploy():
    from llmd_trace_e2e.platforms.kind.platform import KindE2EPlatform

    with pytest.raises(ConfigError, match="drop --trace-backend in-memory"):
        KindE2EPlatform.check_options(RunOptions(platform="kind", trace_backend="in-memory"))
    assert RunOptions.read(lambda dest: None).trace_backend == "jaeger", "positive control: the default is what kind deploys"
