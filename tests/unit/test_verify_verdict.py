"""The filter verdict from canary outcomes (plain values, no collector): what it names."""
import pytest

from llmd_trace_e2e.traffic.canaries import (
    CONTROL_CANARIES, GUIDE, HEALTH, NOISE_CANARIES, SCRAPE_CHILDREN, SentCanary)
from llmd_trace_e2e.deployment.collector_config import repo_collector_config
from llmd_trace_e2e.traces.patterns import SpanPattern
from llmd_trace_e2e.traffic.filter_verdict import (
    CanaryOutcome, FilterVerdictError, VerifyReport, assert_controls_kept, assert_noise_dropped)


def report(leaked_labels=(), lost_names=()):
    outcomes = []
    for i, canary in enumerate(NOISE_CANARIES + CONTROL_CANARIES):
        arrived = canary.label in leaked_labels if canary.must_drop else canary.name not in lost_names
        outcomes.append(CanaryOutcome(SentCanary(canary, f"{i:032x}", f"{i:016x}"), arrived))
    return VerifyReport("test.yaml", tuple(outcomes))


def children_and_health():
    return [c.label for c in NOISE_CANARIES if c.group in (SCRAPE_CHILDREN, HEALTH)]


def test_the_guides_config_passes_its_six_patterns_and_reports_the_gaps():
    r = report(leaked_labels=children_and_health())
    assert r.passed
    verdict = r.verdict()
    assert verdict[0].startswith("verdict: PASS")
    assert verdict[1].startswith("gap: children of scrape spans got through: name == \"GET /metrics http send\"")
    assert verdict[2].startswith("gap: health checks got through: url.path == \"/health\"")
    assert r.table().count("| gap |") == len(children_and_health())


def test_a_missing_guide_pattern_fails_naming_it_and_its_condition():
    r = report(leaked_labels=['http.target == "/metrics"'])
    assert not r.passed and r.verdict() == ['verdict: FAIL: /metrics spans got through: http.target == "/metrics"']
    with pytest.raises(FilterVerdictError) as info:
        assert_noise_dropped(r, GUIDE, "the run folder")
    text = str(info.value)
    assert "let 1 of 6 canaries of the guide's /metrics patterns through" in text
    assert 'http.target == "/metrics": canary `canary http.target` (SERVER; http.target=/metrics)' in text
    assert 'the condition that drops it: attributes["http.target"] == "/metrics"' in text
    assert "url.path" not in text and "logs: the run folder" in text


def test_no_control_arrived_means_no_verdict_on_the_noise():
    r = report(lost_names=[c.name for c in CONTROL_CANARIES])
    assert not r.settled and r.verdict()[0].startswith("verdict: FAIL: no ordinary span reached the backend")
    with pytest.raises(FilterVerdictError, match="the absence of noise proves nothing"):
        assert_noise_dropped(r, GUIDE)


def test_a_dropped_control_is_named_with_the_condition_that_matches_it():
    r = report(lost_names=["ingress"])
    assert r.verdict() == ["verdict: FAIL: ordinary spans were dropped: gateway server span (Envoy default)"]
    greedy = [*repo_collector_config().filter_patterns(), SpanPattern.parse('name == "ingress"')]
    with pytest.raises(FilterVerdictError) as info:
        assert_controls_kept(r, greedy)
    assert "`ingress` (SERVER;" in str(info.value) and 'it matches name == "ingress"' in str(info.value)
    assert_controls_kept(report())


def paths_of(name):
    from pathlib import Path

    from llmd_trace_e2e.deployment.collector_config import load_collector_config
    from llmd_trace_e2e.deployment.collector_paths import backend_paths

    data = Path(__file__).resolve().parents[1] / "data" / "collector-configs"
    return tuple(backend_paths(load_collector_config(data / name)))


def test_a_control_stored_once_of_two_paths_leaves_the_verdict_unsettled():
    """Two paths to the backend: until each has delivered the controls, the noise on the slower
    one may still be on its way, so nothing is concluded (the verdict that used to flip)."""
    outcomes = [CanaryOutcome(SentCanary(c, f"{i:032x}", f"{i:016x}"), 0 if c.must_drop else 1, 2)
                for i, c in enumerate(NOISE_CANARIES + CONTROL_CANARIES)]
    r = VerifyReport("two.yaml", tuple(outcomes), paths_of("two-traces-pipelines.yaml"))
    assert not r.settled and not r.passed
    assert r.verdict()[0].startswith("verdict: FAIL: no ordinary span reached the backend on every path"), r.verdict()
    assert "control copies stored: 1/2" in r.verdict()[0]


def test_a_leak_names_the_path_that_carries_it_past_no_filter():
    outcomes = [CanaryOutcome(SentCanary(c, f"{i:032x}", f"{i:016x}"), 1 if c.must_drop else 2, 2)
                for i, c in enumerate(NOISE_CANARIES + CONTROL_CANARIES)]
    r = VerifyReport("two.yaml", tuple(outcomes), paths_of("two-traces-pipelines.yaml"))
    verdict = r.verdict()
    assert verdict[0].startswith("verdict: FAIL: /metrics spans got through: url.path")
    assert verdict[1] == "  on otlp -> traces/debug -> otlp/jaeger: no filter on this path (only sampling: probabilistic_sampler)"
    assert "unfiltered path: otlp -> traces/debug -> otlp/jaeger carries spans past no filter" in verdict[2]
    with pytest.raises(FilterVerdictError) as info:
        assert_noise_dropped(r, GUIDE)
    assert "through otlp -> traces/debug -> otlp/jaeger" in str(info.value)
    assert "through otlp -> traces -> otlp/jaeger" not in str(info.value)


def test_a_missing_pattern_no_component_leaked_is_the_recipes_known_gap_and_a_real_leak_is_not():
    from llmd_trace_e2e.traffic.missing_patterns import known_config_gap, missing_patterns
    from llmd_trace_e2e.deployment.profiles import load_profile

    from tests.unit.spans import span

    r = report(leaked_labels=['http.target == "/metrics"', 'http.url == "/metrics"'])
    scrape = span("vllm-decode", "GET /metrics", "4000000000000001", **{"http.target": "/metrics"})
    missing = missing_patterns(r, tapped=[scrape], stored=[])
    assert [m.describe() for m in missing] == [
        'attributes["http.target"] == "/metrics": 1 span(s) of this run\'s components matched it before the filter, '
        "none reached the backend (another condition dropped them)",
        'attributes["http.url"] == "/metrics": no span of this run\'s components matched it']
    profile = load_profile("local")
    assert known_config_gap(profile, missing).id == "recipe-filter-lacks-http-target-and-url"
    leaked = missing_patterns(r, tapped=[scrape], stored=[scrape])
    assert leaked[0].describe().startswith('attributes["http.target"] == "/metrics": REAL LEAK: 1 span(s)')
    assert known_config_gap(profile, leaked) is None
    other = missing_patterns(report(leaked_labels=['url.path == "/metrics"']), tapped=None, stored=[])
    assert known_config_gap(profile, other) is None  # not a pattern the recipe is known to lack


def test_a_config_with_no_path_to_a_backend_says_so():
    r = report(lost_names=[c.name for c in CONTROL_CANARIES])
    r = VerifyReport("debug-only.yaml", r.outcomes, paths=())
    assert r.verdict()[0].startswith("verdict: FAIL: no traces pipeline of the config ends at a backend exporter")
