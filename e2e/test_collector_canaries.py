"""The run's own collector, probed with canary spans (both platforms, whatever the components
emit): each of the guide's six /metrics patterns dropped, the noise beyond them (children of
scrape spans, health checks) dropped or a known gap, and every span of the request path kept.
A missing pattern is told apart from a real leak by what the run's components' spans did."""
from __future__ import annotations

import pytest

from llmd_trace_e2e.platforms.abilities import SpanTap
from llmd_trace_e2e.traffic.canaries import GUIDE, HEALTH, SCRAPE_CHILDREN, expected_span_names
from llmd_trace_e2e.traffic.missing_patterns import known_config_gap, missing_patterns
from llmd_trace_e2e.traffic.filter_verdict import (
    FilterVerdictError, assert_controls_kept, assert_noise_dropped, canary_report)
from llmd_trace_e2e.traces.patterns import GUIDE_PATTERNS, matching_patterns
from llmd_trace_e2e.runtime.waits import Pending, wait_for

from pytest_llmd_trace.suite import fails_its_tests
from pytest_llmd_trace.noise import (
    NOISE_WAIT_S, barrier_on_every_path, components_spans, config_source, declare_known_noise_gap, run_patterns,
    stored_spans_since_start)

pytestmark = pytest.mark.guide("Recommended Filters")


@pytest.fixture(scope="module")
@fails_its_tests
def canaries(platform):
    """Every noise canary, then the controls, through platform.collector_otlp_grpc, looked up in Jaeger."""
    return canary_report(platform.collector_otlp_grpc, platform.traces, platform.collector_config)


def components_evidence(platform):
    """What the run's components sent, before the filter (None where the platform cannot see
    it) and in Jaeger, once a scrape span is in the tap (the positive control) and a barrier
    is through every path."""
    if not isinstance(platform, SpanTap):
        barrier_on_every_path(platform)
        return None, stored_spans_since_start(platform)

    def scraped():
        tapped = components_spans(platform.unfiltered_spans())
        return [s for s in tapped if matching_patterns(s, GUIDE_PATTERNS)] or Pending(
            f"{len(tapped)} span(s) tapped, none from /metrics")
    wait_for("a /metrics span of the run's components in the tap (positive control)", scraped, NOISE_WAIT_S)
    barrier_on_every_path(platform)
    return components_spans(platform.unfiltered_spans()), stored_spans_since_start(platform)


def test_each_of_the_guides_metrics_patterns_is_dropped(request, platform, canaries):
    """A missing pattern fails, naming it; where no span of the run's components matched it and
    reached Jaeger, and the profile knows that gap of its recipe, it is that known gap instead."""
    if not canaries.leaked(GUIDE):
        assert_noise_dropped(canaries, GUIDE, platform.logs_hint())
        return
    missing = missing_patterns(canaries, *components_evidence(platform))
    evidence = "\n".join(f"  {m.describe()}" for m in missing)
    gap = known_config_gap(platform.profile, missing)
    if gap is not None:
        request.applymarker(pytest.mark.xfail(reason=f"{gap.reason}. This run: {evidence.strip()}", strict=True))
    try:
        assert_noise_dropped(canaries, GUIDE, platform.logs_hint())
    except FilterVerdictError as exc:
        raise FilterVerdictError(f"{exc}\nwhat this run's components did with each missing pattern:\n{evidence}") \
            from None


def test_the_request_paths_spans_pass_the_filter(platform, canaries):
    assert_controls_kept(canaries, run_patterns(platform) or (), platform.logs_hint())


def test_children_of_scrape_spans_are_dropped(request, platform, canaries):
    declare_known_noise_gap(request, platform, SCRAPE_CHILDREN)
    assert_noise_dropped(canaries, SCRAPE_CHILDREN, platform.logs_hint())


def test_health_check_spans_are_dropped(request, platform, canaries):
    declare_known_noise_gap(request, platform, HEALTH)
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
