"""Canary spans sent through a collector with the OpenTelemetry SDK.

Noise canaries, one per filter condition (each matching that condition alone): the guide's six
/metrics patterns, and the noise the suite found beyond them (the INTERNAL children of scrape
spans, health checks). Controls: the request path's spans, which every filter must let through.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from llmd_trace_e2e.deployment.collector_paths import backend_paths, first_traces_receiver
from llmd_trace_e2e.traces.model import Span
from llmd_trace_e2e.traces.patterns import (
    GUIDE_PATTERNS, HEALTH_CHILD_CONDITIONS, HEALTH_SERVER_CONDITIONS, SCRAPE_CHILD_CONDITIONS, SpanPattern,
    parse_all)

if TYPE_CHECKING:
    from llmd_trace_e2e.traces.query import TraceQuery
    from llmd_trace_e2e.traffic.completions import Completion

CANARY_SERVICE = "llmd-trace-e2e-canary"

# Canary groups: which noise a canary stands for ("" for the controls).
GUIDE = "the guide's /metrics patterns"
SCRAPE_CHILDREN = "children of scrape spans"
HEALTH = "health checks"


@dataclass(frozen=True)
class Canary:
    label: str
    name: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    must_drop: bool = True
    group: str = ""  # GUIDE, SCRAPE_CHILDREN, HEALTH; "" for the controls
    kind: SpanKind = SpanKind.SERVER
    child: bool = False  # sent under a parent from elsewhere, as an instrumented server's INTERNAL spans are
    condition: str = ""  # the filter condition that drops it

    @property
    def shape(self) -> str:
        attrs = ", ".join(f"{k}={v}" for k, v in self.attributes.items()) or "no URL attributes"
        return f"`{self.name}` ({self.kind.name}{', child' if self.child else ''}; {attrs})"


@dataclass(frozen=True)
class SentCanary:
    canary: Canary
    trace_id: str
    span_id: str


def _noise_canary(pattern: SpanPattern, group: str, child: bool = False) -> Canary:
    kind = SpanKind.INTERNAL if child else SpanKind.SERVER
    if pattern.attribute is None:
        return Canary(pattern.label, pattern.value, {}, True, group, kind, child, pattern.condition)
    # a name no name-pattern matches, so only the attribute can drop it
    return Canary(pattern.label, f"canary {pattern.attribute}", {pattern.attribute: pattern.value}, True,
                  group, kind, child, pattern.condition)


def metrics_canaries(patterns: Sequence[SpanPattern] = GUIDE_PATTERNS) -> list[Canary]:
    """One canary per /metrics pattern of the guide."""
    return [_noise_canary(p, GUIDE) for p in patterns]


SCRAPE_CHILD_CANARIES = tuple(_noise_canary(p, SCRAPE_CHILDREN, child=True)
                              for p in parse_all(SCRAPE_CHILD_CONDITIONS))
HEALTH_CANARIES = tuple([_noise_canary(p, HEALTH) for p in parse_all(HEALTH_SERVER_CONDITIONS)]
                        + [_noise_canary(p, HEALTH, child=True) for p in parse_all(HEALTH_CHILD_CONDITIONS)])
NOISE_CANARIES = tuple(metrics_canaries()) + SCRAPE_CHILD_CANARIES + HEALTH_CANARIES


def _control(label: str, name: str, attributes: Mapping[str, str] | None = None,
             kind: SpanKind = SpanKind.SERVER) -> Canary:
    return Canary(label, name, attributes or {}, False, kind=kind)


# The spans of the request path the suite needs, with the attributes their components set. None
# may match a filter condition (the guide's `name == "GET"` drops every span of that name).
CONTROL_CANARIES = (
    _control("inference request (url.path)", "GET /v1/completions", {"url.path": "/v1/completions"}),
    _control("chat request (http.route)", "POST /v1/chat/completions", {"http.route": "/v1/chat/completions"}),
    _control("vLLM request span", "llm_request", {"gen_ai.request.model": "tiny"}),
    _control("EPP request span", "gateway.request", {}),
    _control("EPP orchestration span", "gateway.request_orchestration", {}, SpanKind.INTERNAL),
    _control("vLLM HTTP server span", "POST /v1/completions",
             {"http.route": "/v1/completions", "http.target": "/v1/completions", "url.path": "/v1/completions"}),
    _control("gateway server span (Envoy default)", "ingress",
             {"http.url": "http://gateway/v1/completions", "http.method": "POST"}),
    _control("gateway server span (Istio route decorator)", "inference-gateway-istio.llm-d.svc.cluster.local:80/*",
             {"http.url": "http://gateway/v1/completions", "http.method": "POST"}),
    _control("gateway ext_proc call", "async envoy.service.ext_proc.v3.ExternalProcessor.Process egress",
             {"upstream_cluster": "epp"}, SpanKind.CLIENT),
)

def expected_span_names(profile) -> list[str]:
    """Every span name a profile tells the suite to expect (request path, P/D, gateway)."""
    names = [n for spans in profile.spans.values() for n in spans]
    names += [n for lines in profile.pd_spans.values() for alts in lines for n in alts]
    names += list(profile.gateway_spans.values())
    return sorted(set(names))


def predicted_leaks(patterns: Sequence[SpanPattern], canaries: Sequence[Canary]) -> list[Canary]:
    """The canaries no pattern matches, as the harness evaluates the conditions."""
    return [c for c in canaries if not any(p.matches_shape(c.name, c.attributes) for p in patterns)]


def _remote_parent():
    """A context whose current span is a sampled parent in another process (a new trace)."""
    parent = SpanContext(random.getrandbits(128) or 1, random.getrandbits(64) or 1, is_remote=True,
                         trace_flags=TraceFlags(TraceFlags.SAMPLED))
    return trace.set_span_in_context(NonRecordingSpan(parent))


def send_canaries(otlp_grpc_endpoint: str, canaries: Sequence[Canary],
                  service: str = CANARY_SERVICE) -> list[SentCanary]:
    """Export each canary as its own trace, all in ONE request in the order given, and flush
    before returning. One request stays one batch through the collector's processors and
    exporters, so a span that arrived in the backend vouches for those written before it in the
    list, on the path it took, whatever the exporter's queue does with separate requests."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_grpc_endpoint, insecure=True),
                                                   max_queue_size=2048, max_export_batch_size=512,
                                                   schedule_delay_millis=600_000))
    tracer = provider.get_tracer("llmd_trace_e2e.traffic.canaries")
    sent = []
    try:
        for canary in canaries:
            with tracer.start_as_current_span(canary.name, context=_remote_parent() if canary.child else None,
                                              kind=canary.kind,
                                              attributes={**canary.attributes, "harness.canary": canary.label}) as span:
                ctx = span.get_span_context()
                sent.append(SentCanary(canary, f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"))
        provider.force_flush()
    finally:
        provider.shutdown()
    return sent


def path_copies(config) -> int:
    """How many copies of one span the config's paths deliver to the backend (one per path from
    the receiver the harness sends to; at least one)."""
    return max(1, len(backend_paths(config, first_traces_receiver(config))))


def barrier(otlp_grpc_endpoint: str, traces: "TraceQuery", timeout_s: float = 30.0,
            tap: Callable[[], Sequence[Span]] | None = None, copies: int = 1) -> None:
    """Send one span through the collector and wait for `copies` of it in the trace backend (one per path
    to the backend) and in `tap`, the unfiltered spans, where the platform has one: whatever the
    collector received before it has then been filtered, batched and exported on every path too."""
    from llmd_trace_e2e.runtime.waits import Pending, wait_for

    [sent] = send_canaries(otlp_grpc_endpoint, [Canary("barrier", "llmd-trace-e2e barrier", {}, False)])

    def through():
        stored = traces.stored_copies(sent.trace_id)
        if stored < copies:
            return Pending(f"{stored} of {copies} copies in the trace backend (one per path to the backend)")
        if tap is not None and not any(s.trace_id == sent.trace_id for s in tap()):
            return Pending("in the trace backend, not in the collector's unfiltered tap yet")
        return True

    wait_for(f"the barrier span {sent.trace_id} to reach the trace backend", through, timeout_s)


EXPORT_IN_FLIGHT_S = 0.5  # a batch sent just then is still on its way to the collector


def settle(platform, *ended: "Completion | float", tap: Callable[[], Sequence[Span]] | None = None,
           timeout_s: float = 30.0) -> float:
    """Return once everything the components exported for work that ended by `ended` (responses,
    or epoch seconds) is in the trace backend and in `tap` (the platform's unfiltered spans, where it has
    them): the slowest exporter's batch delay after the last of them (no barrier can answer for a
    batch still in a component's memory), then a barrier through the collector. A span absent
    afterwards is not coming. Returns the seconds waited. The suite calls it as platform.settle()."""
    start = time.monotonic()
    last = max((e if isinstance(e, (int, float)) else e.started.timestamp() + e.seconds for e in ended),
               default=time.time())
    time.sleep(max(0.0, last + platform.export_batch_delay_s + EXPORT_IN_FLIGHT_S - time.time()))
    barrier(platform.collector_otlp_grpc, platform.traces, timeout_s, tap=tap,
            copies=path_copies(platform.collector_config))
    return time.monotonic() - start
