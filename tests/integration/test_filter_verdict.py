"""The e2e suite's canary verdict (e2e/test_collector_canaries.py) against a real collector and
Jaeger, without vLLM: a config lacking any one of the guide's six patterns fails naming that
pattern; the recommended config drops every noise canary and keeps the request path."""
import copy

import pytest

from llmd_trace_e2e.traffic.canaries import (
    GUIDE, HEALTH, NOISE_CANARIES, SCRAPE_CHILDREN, metrics_canaries, predicted_leaks)
from llmd_trace_e2e.deployment.collector_config import CollectorConfig, repo_collector_config
from llmd_trace_e2e.platforms.local.pipeline import LocalCollector, LocalJaeger, PipelineTimeouts
from llmd_trace_e2e.runtime.procs import Supervisor
from llmd_trace_e2e.traces.patterns import GUIDE_CONDITIONS, SpanPattern
from llmd_trace_e2e.traffic.filter_verdict import (
    FilterVerdictError, assert_controls_kept, assert_noise_dropped, canary_report)

pytestmark = pytest.mark.integration

FILTER = "filter/drop-metrics-scraping"


@pytest.fixture(scope="module")
def jaeger(tmp_path_factory):
    folder = tmp_path_factory.mktemp("jaeger")
    with Supervisor(folder) as supervisor:
        jaeger = LocalJaeger(supervisor, folder).start()
        jaeger.wait_ready(PipelineTimeouts.jaeger_ready_s)
        yield jaeger


@pytest.fixture
def run_canaries(jaeger, tmp_path):
    """Start a collector on a config, send it every canary, return the report; stop it after."""
    with Supervisor(tmp_path) as supervisor:
        def run(config: CollectorConfig, canaries=NOISE_CANARIES):
            collector = LocalCollector(supervisor, tmp_path, config, jaeger.destination).start()
            collector.wait_ready(PipelineTimeouts.collector_ready_s)
            try:
                return canary_report(collector.otlp_grpc_endpoint, jaeger.client(), config, canaries, collector.notes)
            finally:
                supervisor.stop(collector.proc)
        yield run


def lacking(condition: str) -> CollectorConfig:
    guide = repo_collector_config()
    body = copy.deepcopy(guide.body)
    body["processors"][FILTER]["traces"]["span"].remove(condition)
    return CollectorConfig(f"the guide's config without {condition}", body)


@pytest.mark.parametrize("missing", GUIDE_CONDITIONS)
def test_a_config_lacking_one_guide_pattern_fails_naming_that_pattern(run_canaries, missing):
    report = run_canaries(lacking(missing), metrics_canaries())
    with pytest.raises(FilterVerdictError) as info:
        assert_noise_dropped(report, GUIDE)
    text = str(info.value)
    label = SpanPattern.parse(missing).label
    assert "let 1 of 6 canaries of the guide's /metrics patterns through" in text, text
    assert f"  - {label}: canary" in text and f"the condition that drops it: {missing}" in text, text
    others = [c for c in GUIDE_CONDITIONS if c != missing]
    assert not [c for c in others if f"drops it: {c}\n" in text + "\n"], text
    assert_controls_kept(report)  # only the one pattern failed: the positive control held


def test_the_recommended_config_drops_every_noise_canary_and_keeps_the_request_path(run_canaries):
    report = run_canaries(repo_collector_config("guide-with-fixes.yaml"))
    for group in (GUIDE, SCRAPE_CHILDREN, HEALTH):
        assert_noise_dropped(report, group)
    assert_controls_kept(report)


def test_the_guides_config_drops_its_six_patterns_and_leaks_children_and_health(run_canaries):
    report = run_canaries(repo_collector_config())
    assert_noise_dropped(report, GUIDE)
    assert_controls_kept(report)
    for group in (SCRAPE_CHILDREN, HEALTH):
        with pytest.raises(FilterVerdictError, match=f"canaries of {group} through"):
            assert_noise_dropped(report, group)


def with_conditions(*extra: str) -> CollectorConfig:
    body = copy.deepcopy(repo_collector_config().body)
    body["processors"][FILTER]["traces"]["span"] += list(extra)
    return CollectorConfig(f"the guide's config plus {', '.join(extra)}", body)


@pytest.mark.parametrize("config", [
    repo_collector_config(), repo_collector_config("guide-with-fixes.yaml"),
    with_conditions('IsMatch(name, "^GET /(metrics|health)")'),
    with_conditions('IsMatch(attributes["http.route"], "^/health$")', 'name == "GET /health http send"'),
], ids=["guide", "recommended", "ismatch-name", "ismatch-attribute"])
def test_the_harness_predicts_what_the_real_filter_drops(run_canaries, config):
    """The known noise gaps are judged by evaluating the conditions: held against the collector."""
    report = run_canaries(config)
    predicted = {c.label for c in predicted_leaks(config.filter_patterns(), NOISE_CANARIES)}
    arrived = {o.sent.canary.label for o in report.outcomes if o.sent.canary.must_drop and o.arrived}
    assert report.settled and arrived == predicted, f"predicted {sorted(predicted)}, the collector let through {sorted(arrived)}"
