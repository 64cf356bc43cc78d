"""Health checks on real traffic: the GET /health spans of an instrumented server (the platform's
readiness probe makes them, as a kubelet's would) and their children reach the collector, and
none reaches Jaeger. The guide's filter has no health condition: a known gap, naming the
conditions that would drop them."""
from __future__ import annotations

import pytest

from llmd_trace_e2e.traffic.canaries import HEALTH
from llmd_trace_e2e.traces.patterns import HEALTH_CONDITIONS, HEALTH_PATTERNS, matching_patterns
from llmd_trace_e2e.traces.render import render_inventory
from llmd_trace_e2e.runtime.waits import Pending, wait_for

from checks import service_or_skip
from noise_checks import NOISE_WAIT_S, barrier_on_every_path, expect_noise_gap, jaeger_spans_since_start, tapped_or_skip

pytestmark = pytest.mark.guide("Recommended Filters")


def health_spans_upstream(platform):
    """Positive control: GET /health spans, and their children, that reached the collector."""
    service_or_skip(platform, "vllm-decode")  # the instrumented server that makes them

    def probe():
        tapped = tapped_or_skip(platform)
        servers = {s.span_id for s in tapped if matching_patterns(s, HEALTH_PATTERNS)}
        hits = [s for s in tapped if s.span_id in servers or s.parent_span_id in servers]
        return hits or Pending(f"{len(tapped)} span(s) tapped, none from /health; tapped: {render_inventory(tapped)}")

    return wait_for("a /health span to reach the collector (positive control)", probe, NOISE_WAIT_S)


def test_health_check_spans_are_produced_and_then_dropped(request, platform):
    produced = health_spans_upstream(platform)
    barrier_on_every_path(platform)
    stored = {(s.trace_id, s.span_id) for s in jaeger_spans_since_start(platform)}
    leaked = [s for s in produced if (s.trace_id, s.span_id) in stored]
    expect_noise_gap(request, platform, HEALTH)
    assert not leaked, (
        f"{len(leaked)} of {len(produced)} health-check span(s) reached Jaeger: "
        + ", ".join(sorted({f"{s.service}:{s.name}" for s in leaked}))
        + f"; conditions that drop them: {', '.join(HEALTH_CONDITIONS)} (logs: {platform.logs_hint()})")
