"""Configs people really write (tests/data/collector-configs, verdicts in expected.yaml) run as
written by the real collector against a real Jaeger: the forward-connector two-stage config,
two traces pipelines with an unfiltered debug+backend one (both orders, repeated: the same
verdict every time), the recipe's four conditions, and a component the build lacks."""
import copy
from pathlib import Path

import pytest
import yaml

from llmd_trace_e2e.traffic.filter_verdict import canary_report
from llmd_trace_e2e.platforms.local.pipeline import LocalCollector, LocalJaeger, PipelineTimeouts
from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.runtime.procs import Supervisor
from llmd_trace_e2e.deployment.collector_config import CollectorConfig, load_collector_config
from llmd_trace_e2e.traffic.canaries import GUIDE

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data" / "collector-configs"
EXPECTED = yaml.safe_load((DATA / "expected.yaml").read_text())
MULTI = "two-traces-pipelines.yaml"
RUNS_PER_ORDER = 3


@pytest.fixture(scope="module")
def jaeger(tmp_path_factory):
    folder = tmp_path_factory.mktemp("jaeger")
    with Supervisor(folder) as supervisor:
        jaeger = LocalJaeger(supervisor, folder).start()
        jaeger.wait_ready(PipelineTimeouts.jaeger_ready_s)
        yield jaeger


@pytest.fixture
def verify(jaeger, tmp_path):
    """verify-collector-config's report on a config, against the module's Jaeger."""
    with Supervisor(tmp_path) as supervisor:
        def run(config: CollectorConfig, run: int = 0):
            folder = tmp_path / f"run-{run}"
            folder.mkdir()
            collector = LocalCollector(supervisor, folder, config, jaeger.destination)
            collector.start().wait_ready(PipelineTimeouts.collector_ready_s)
            try:
                return canary_report(collector.otlp_grpc_endpoint, jaeger.client(), config, notes=collector.notes)
            finally:
                supervisor.stop(collector.proc)
        yield run


def check_against_expected(report, name: str, logs: Path) -> None:
    want = EXPECTED[name]
    leaked = [o.sent.canary.label for o in report.leaked(GUIDE)]
    verdict = report.verdict()
    where = f"\n{chr(10).join(verdict)}\n{report.table()}\n(collector logs under {logs})"
    assert report.settled, f"{name}: the controls never arrived on every path{where}"
    assert not report.lost(), f"{name}: ordinary spans were dropped{where}"
    assert sorted(leaked) == sorted(want["leaked"]), f"{name}: expected {want['leaked']} to get through{where}"
    assert verdict[0].startswith(f"verdict: {want['verdict']}"), f"{name}: expected {want['verdict']}{where}"
    assert sorted(p.describe() for p in report.paths) == sorted(want["paths"]), where
    named = [line for line in verdict if line.startswith("unfiltered path: ")]
    assert [line.split(": ", 1)[1].split(" carries")[0] for line in named] == want["unfiltered"], where
    for note in want["notes"]:
        assert any(line.startswith(note) for line in report.notes), f"{name}: no note {note!r} in {report.notes}"


@pytest.mark.parametrize("name", ["forward-two-stage.yaml", "recipe-four-conditions.yaml"])
def test_the_config_gets_its_verdict_as_written(verify, tmp_path, name):
    report = verify(load_collector_config(DATA / name))
    check_against_expected(report, name, tmp_path)


def reordered(config: CollectorConfig) -> CollectorConfig:
    body = copy.deepcopy(config.body)
    body["service"]["pipelines"] = dict(reversed(list(body["service"]["pipelines"].items())))
    return CollectorConfig(f"{config.source} (pipelines in reverse order)", body)


def test_an_unfiltered_second_path_fails_the_same_way_every_run_in_either_order(verify, tmp_path):
    """The unfiltered debug pipeline batches for 3 s, the filtered one for 0.2 s: a wait that
    ended at the first copy of the controls would pass some runs. Each run waits for both."""
    given = load_collector_config(DATA / MULTI)
    verdicts = []
    for run, config in enumerate([given] * RUNS_PER_ORDER + [reordered(given)] * RUNS_PER_ORDER):
        report = verify(config, run)
        check_against_expected(report, MULTI, tmp_path)
        verdicts.append(report.verdict()[:3])
        assert "on otlp -> traces/debug -> otlp/jaeger: no filter on this path" in verdicts[-1][1], verdicts[-1]
    assert all(v == verdicts[0] for v in verdicts), "the verdict changed between runs:\n" + "\n".join(map(str, verdicts))


def test_a_component_the_build_lacks_is_refused_naming_it(tmp_path):
    with Supervisor(tmp_path) as supervisor:
        with pytest.raises(ConfigError) as info:
            LocalCollector(supervisor, tmp_path, load_collector_config(DATA / "routing-connector.yaml"), "127.0.0.1:1")
    assert EXPECTED["routing-connector.yaml"]["refused"] in str(info.value)
    assert len(str(info.value).splitlines()) == 1
