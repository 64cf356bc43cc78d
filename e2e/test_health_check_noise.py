"""Health checks on real traffic: the GET /health spans of an instrumented server (the platform's
readiness probe makes them, as a kubelet's would) and their children reach the collector, and
none reaches Jaeger. The guide's filter has no health condition: a known gap, naming the
conditions that would drop them."""
from __future__ import annotations

import time

import pytest
import requests

from llmd_trace_e2e.deployment.charts import vllm_launch
from llmd_trace_e2e.deployment.sampling import root_ratio
from llmd_trace_e2e.platforms.abilities import ModelServers
from llmd_trace_e2e.traffic.canaries import HEALTH
from llmd_trace_e2e.traffic.resend import send_until_sampled
from llmd_trace_e2e.traces.patterns import HEALTH_CONDITIONS, HEALTH_PATTERNS, matching_patterns
from llmd_trace_e2e.traces.render import render_inventory
from llmd_trace_e2e.runtime.waits import Pending, wait_for

from pytest_llmd_trace.suite import service_or_skip
from pytest_llmd_trace.noise import (
    NOISE_WAIT_S, barrier_on_every_path, declare_known_noise_gap, stored_spans_since_start, tapped_components_spans)

pytestmark = pytest.mark.guide("Recommended Filters")


def health_spans(tapped):
    servers = {s.span_id for s in tapped if matching_patterns(s, HEALTH_PATTERNS)}
    return [s for s in tapped if s.span_id in servers or s.parent_span_id in servers]


def probe_until_sampled(platform) -> None:
    """A kubelet keeps probing; the local platform probes /health only until vLLM is ready, and a
    probe is a root that vLLM samples at its own ratio. So where no /health span has been tapped
    (none of those probes sampled, or not exported yet), probe again as a kubelet would, until one
    was (bounded by the ratio), before the control looks."""
    servers = platform.model_servers if isinstance(platform, ModelServers) else None
    if not servers or health_spans(tapped_components_spans(platform)):
        return

    def probe() -> float:
        sent = time.time()
        for address in servers.values():
            requests.get(f"http://{address}/health", timeout=5)
        return sent

    def first_sampled(batch):
        platform.settle(time.time())
        return batch[0] if health_spans(tapped_components_spans(platform)) else None

    ratio = root_ratio(vllm_launch(platform.values, platform.profile).env)
    sampled = send_until_sampled(probe, first_sampled, ratio, "vLLM's sampler, for GET /health")
    print(f"no /health span tapped yet: {sampled.sent} more probe round(s) until one was, at ratio {ratio:g}")


def health_spans_upstream(platform):
    """Positive control: GET /health spans, and their children, that reached the collector."""
    service_or_skip(platform, "vllm-decode")  # the instrumented server that makes them
    probe_until_sampled(platform)

    def probe():
        tapped = tapped_components_spans(platform)
        return health_spans(tapped) or Pending(f"{len(tapped)} span(s) tapped, none from /health; tapped: "
                                               f"{render_inventory(tapped)}")

    return wait_for("a /health span to reach the collector (positive control)", probe, NOISE_WAIT_S)


def test_health_check_spans_are_produced_and_then_dropped(request, platform, span_tap):
    produced = health_spans_upstream(span_tap)
    barrier_on_every_path(platform)
    stored = {(s.trace_id, s.span_id) for s in stored_spans_since_start(platform)}
    leaked = [s for s in produced if (s.trace_id, s.span_id) in stored]
    declare_known_noise_gap(request, platform, HEALTH)
    assert not leaked, (
        f"{len(leaked)} of {len(produced)} health-check span(s) reached Jaeger: "
        + ", ".join(sorted({f"{s.service}:{s.name}" for s in leaked}))
        + f"; conditions that drop them: {', '.join(HEALTH_CONDITIONS)} (logs: {platform.logs_hint()})")
