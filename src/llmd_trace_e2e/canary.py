"""Canary spans sent through a collector with the OpenTelemetry SDK: one per /metrics pattern
(each matching that pattern alone), and ordinary spans that every filter must let through."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from .traces.patterns import GUIDE_PATTERNS, SpanPattern

CANARY_SERVICE = "llmd-trace-e2e-canary"


@dataclass(frozen=True)
class Canary:
    label: str
    name: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    must_drop: bool = True


@dataclass(frozen=True)
class SentCanary:
    canary: Canary
    trace_id: str
    span_id: str


def metrics_canaries(patterns: Sequence[SpanPattern] = GUIDE_PATTERNS) -> list[Canary]:
    out = []
    for p in patterns:
        if p.attribute is None:
            out.append(Canary(p.label, p.value))
        else:  # a name no name-pattern matches, so only the attribute can drop it
            out.append(Canary(p.label, f"canary {p.attribute}", {p.attribute: p.value}))
    return out


CONTROL_CANARIES = (
    Canary("inference request (url.path)", "GET /v1/completions", {"url.path": "/v1/completions"}, False),
    Canary("chat request (http.route)", "POST /v1/chat/completions", {"http.route": "/v1/chat/completions"}, False),
    Canary("vLLM request span", "llm_request", {"gen_ai.request.model": "tiny"}, False),
    Canary("EPP request span", "gateway.request", {}, False),
)


def send_canaries(otlp_grpc_endpoint: str, canaries: Sequence[Canary],
                  service: str = CANARY_SERVICE) -> list[SentCanary]:
    """Export each canary as its own trace, in order, and flush before returning."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=otlp_grpc_endpoint, insecure=True)))
    tracer = provider.get_tracer("llmd_trace_e2e.canary")
    sent = []
    try:
        for canary in canaries:
            with tracer.start_as_current_span(canary.name, kind=SpanKind.SERVER,
                                              attributes={**canary.attributes, "harness.canary": canary.label}) as span:
                ctx = span.get_span_context()
                sent.append(SentCanary(canary, f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"))
        provider.force_flush()
    finally:
        provider.shutdown()
    return sent


def barrier(otlp_grpc_endpoint: str, jaeger, timeout_s: float = 30.0) -> None:
    """Send one span through the collector and wait for it in Jaeger: whatever the collector
    received before it has then been filtered, batched and exported too."""
    from .waits import Pending, wait_for

    [sent] = send_canaries(otlp_grpc_endpoint, [Canary("barrier", "llmd-trace-e2e barrier", {}, False)])
    wait_for(f"the barrier span {sent.trace_id} to reach Jaeger",
             lambda: jaeger.trace(sent.trace_id) is not None or Pending("not in Jaeger yet"), timeout_s)
