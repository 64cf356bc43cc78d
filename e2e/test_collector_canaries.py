"""The run's own collector, probed with canary spans (both platforms, whatever the components
emit): each of the guide's six /metrics patterns dropped, the noise beyond them (children of
scrape spans, health checks) dropped or a known gap, and every span of the request path kept."""
from __future__ import annotations

import pytest

from llmd_trace_e2e.traffic.canaries import GUIDE, HEALTH, SCRAPE_CHILDREN, expected_span_names
from llmd_trace_e2e.commands.verify import assert_controls_kept, assert_noise_dropped, canary_report

from checks import expect_gap
from noise_checks import config_source, expect_noise_gap, run_patterns

pytestmark = pytest.mark.guide("Recommended Filters")


@pytest.fixture(scope="module")
def canaries(platform):
    """Every noise canary, then the controls, through platform.collector_otlp_grpc, looked up in Jaeger."""
    return canary_report(platform.collector_otlp_grpc, platform.jaeger, config_source(platform))


def test_each_of_the_guides_metrics_patterns_is_dropped(request, platform, canaries):
    conditions = set(platform.collector_config.filter_conditions())
    if not {'attributes["http.target"] == "/metrics"', 'attributes["http.url"] == "/metrics"'} <= conditions:
        expect_gap(request, platform, "recipe-filter-lacks-http-target-url")  # llm-d's recipe collector keeps four of six
    assert_noise_dropped(canaries, GUIDE, platform.logs_hint())


def test_the_request_paths_spans_pass_the_filter(platform, canaries):
    assert_controls_kept(canaries, run_patterns(platform) or (), platform.logs_hint())


def test_children_of_scrape_spans_are_dropped(request, platform, canaries):
    expect_noise_gap(request, platform, SCRAPE_CHILDREN)
    assert_noise_dropped(canaries, SCRAPE_CHILDREN, platform.logs_hint())


def test_health_check_spans_are_dropped(request, platform, canaries):
    expect_noise_gap(request, platform, HEALTH)
    assert_noise_dropped(canaries, HEALTH, platform.logs_hint())


def test_no_span_the_profile_expects_matches_a_filter_condition(platform):
    """The spans the suite asks for, by name (profile spans, P/D spans, the gateway's), held
    against the run's conditions as the harness reads them; the controls above ran them for real."""
    patterns = run_patterns(platform)
    if patterns is None:
        pytest.skip(f"the harness cannot evaluate the conditions of {config_source(platform)}; "
                    "the canary controls checked the request path for real")
    hits = {name: [p.condition for p in patterns if p.matches_shape(name, {})]
            for name in expected_span_names(platform.profile)}
    hits = {name: conditions for name, conditions in hits.items() if conditions}
    assert not hits, f"spans the suite needs would be dropped by {config_source(platform)}: {hits}"
