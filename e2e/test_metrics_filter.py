"""The collector filter on real traffic: no span of Prometheus scraping /metrics (nor its
children) reaches Jaeger, while the collector's unfiltered tap proves such spans were really
produced upstream of it. The canaries of test_collector_canaries.py cover every pattern."""
from __future__ import annotations

import pytest

from llmd_trace_e2e.platforms.abilities import FilterCounter
from llmd_trace_e2e.traffic.canaries import SCRAPE_CHILDREN
from llmd_trace_e2e.traces.assertions import NoMetricsSpans
from llmd_trace_e2e.traces.patterns import GUIDE_PATTERNS, matching_patterns
from llmd_trace_e2e.traces.render import render_inventory
from llmd_trace_e2e.runtime.waits import Pending, wait_for

from pytest_llmd_trace.suite import service_or_skip
from pytest_llmd_trace.noise import (
    NOISE_WAIT_S, barrier_on_every_path, declare_known_noise_gap, stored_spans_since_start, tapped_components_spans)

pytestmark = pytest.mark.guide("Recommended Filters")


def metrics_spans_upstream(span_tap):
    """Positive control: /metrics spans that reached the collector (before its filter)."""
    service_or_skip(span_tap, "vllm-decode")  # the instrumented server that makes them

    def probe():
        tapped = tapped_components_spans(span_tap)
        hits = [s for s in tapped if matching_patterns(s, GUIDE_PATTERNS)]
        return hits or Pending(f"{len(tapped)} span(s) tapped, none from /metrics; tapped: {render_inventory(tapped)}")

    return wait_for("a /metrics span to reach the collector (positive control)", probe, NOISE_WAIT_S)


def test_metrics_spans_are_produced_and_then_dropped(platform, span_tap):
    produced = metrics_spans_upstream(span_tap)
    stored = stored_spans_since_start(platform)
    platform.expect_spans_now(stored, [NoMetricsSpans()],
                              f"{len(produced)} /metrics span(s) reached the collector; some got through its filter")
    if isinstance(platform, FilterCounter):
        dropped = platform.filtered_span_count()
        assert dropped >= 1, f"the collector reports {dropped} filtered spans though /metrics spans reached it"


def test_no_orphaned_children_of_dropped_metrics_spans(request, platform, span_tap):
    """Instrumented servers give each GET /metrics SERVER span INTERNAL children ('GET /metrics
    http send') that carry no URL attributes: the guide's six patterns cannot match them."""
    service_or_skip(platform, "vllm-decode")  # the instrumented server that makes them

    def children_tapped():
        tapped = tapped_components_spans(span_tap)
        dropped = {s.span_id for s in tapped if matching_patterns(s, GUIDE_PATTERNS)}
        kids = [s for s in tapped if s.parent_span_id in dropped]
        return kids or Pending(f"{len(dropped)} /metrics span(s) tapped, none with children yet")

    children = wait_for("children of /metrics spans to reach the collector", children_tapped, NOISE_WAIT_S)
    barrier_on_every_path(platform)
    stored = {(s.trace_id, s.span_id) for s in stored_spans_since_start(platform)}
    leaked = [s for s in children if (s.trace_id, s.span_id) in stored]
    declare_known_noise_gap(request, platform, SCRAPE_CHILDREN)
    assert not leaked, (
        f"{len(leaked)} of {len(children)} child span(s) of dropped /metrics spans reached Jaeger as orphans: "
        + ", ".join(sorted({f"{s.service}:{s.name}" for s in leaked})) + f" (logs: {platform.logs_hint()})")
