"""The run's own collector, probed with canary spans (both platforms, whatever the components
emit): each of the guide's six /metrics patterns dropped, the noise beyond them (children of
scrape spans, health checks) dropped or a known gap, and every span of the request path kept."""
from __future__ import annotations

import pytest

from llmd_trace_e2e.canary import GUIDE, HEALTH, SCRAPE_CHILDREN
from llmd_trace_e2e.verify import assert_controls_kept, assert_noise_dropped, canary_report

from noise_checks import config_source, expect_noise_gap, run_patterns


@pytest.fixture(scope="module")
def canaries(platform):
    """Every noise canary, then the controls, through platform.collector_otlp_grpc, looked up in Jaeger."""
    return canary_report(platform.collector_otlp_grpc, platform.jaeger, config_source(platform))


def test_each_of_the_guides_metrics_patterns_is_dropped(platform, canaries):
    assert_noise_dropped(canaries, GUIDE, platform.logs_hint())


def test_the_request_paths_spans_pass_the_filter(platform, canaries):
    assert_controls_kept(canaries, run_patterns(platform) or (), platform.logs_hint())


def test_children_of_scrape_spans_are_dropped(request, platform, canaries):
    expect_noise_gap(request, platform, SCRAPE_CHILDREN)
    assert_noise_dropped(canaries, SCRAPE_CHILDREN, platform.logs_hint())


def test_health_check_spans_are_dropped(request, platform, canaries):
    expect_noise_gap(request, platform, HEALTH)
    assert_noise_dropped(canaries, HEALTH, platform.logs_hint())
