"""Options are declared once (run_options.py) and read back the same way by pytest, the kind
CLI and the local CLI; each platform has one timeouts object, overridable by name."""
from __future__ import annotations

from pathlib import Path

import pytest

from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.platforms.kind.cli import _parser as kind_parser
from llmd_trace_e2e.platforms.kind.options import Timeouts as KindTimeouts
from llmd_trace_e2e.platforms.kind.platform import kind_options
from llmd_trace_e2e.platforms.local.platform import Timeouts as LocalTimeouts
from llmd_trace_e2e.platforms.local.stack import build_parser as local_parser
from llmd_trace_e2e.platforms.options import KIND, RUN, KindArgs, RunOptions, with_overrides


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
    assert options.kind == KindArgs(gpu=True, cluster_name="c1", load_image=("a:1", "b:2"))
    assert options.values_files == (Path("v.yaml"),)
    kind = kind_options(options)
    assert (kind.profile, kind.load_images, kind.timeouts.epp_ready) == ("kustomize-guide", ("a:1", "b:2"), 5.0)

    from_pytest = RunOptions.from_getoption({"gpu": True, "cluster_name": "c1", "load_image": ["a:1", "b:2"],
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
