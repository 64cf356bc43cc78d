"""Requests from the official OpenAI Python SDK, traced the way applications trace it: the
OpenTelemetry SDK exporting to the run's collector, and OpenTelemetry's own OpenAI
instrumentation (`opentelemetry-instrumentation-openai-v2`), which wraps each chat call in a
`chat {model}` CLIENT span with GenAI attributes.

That instrumentation sets its span as the current context but puts nothing on the wire:
propagation is the HTTP client's job (in applications, the httpx instrumentation or an
`inject` of their own). Here the SDK's httpx client injects the current context with
OpenTelemetry's propagator in a request hook, which is what the httpx instrumentation does for
propagation (without its extra HTTP span). The hook also records what it sent, so a caller
knows the trace its request is in.

The instrumentation (2.4b0) traces chat completions and embeddings only: a legacy completions
call gets no span, so it carries no traceparent and the first traced hop starts the trace.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone

import httpx
import openai
from opentelemetry import propagate
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from llmd_trace_e2e.traffic import completions as traffic
from llmd_trace_e2e.runtime.errors import HarnessError
from llmd_trace_e2e.traffic.completions import Completion, TraceParent

CLIENT_SERVICE = "llmd-trace-e2e-openai-client"
INSTRUMENTED_KINDS = ("chat",)  # of the two the suite sends: the instrumentation has no span for "completion"
PROMPT = "The trace of a request"


@dataclass(frozen=True)
class SdkCall:
    """One SDK call: the Completion the suite's reports follow, what the client put on the wire,
    and what the SDK returned."""

    completion: Completion  # its traceparent is the client's (a label only when none was sent)
    sent_traceparent: TraceParent | None  # the client span's context, None when the call made no span
    stream: bool
    response_model: str | None
    prompt_tokens: int | None
    completion_tokens: int | None

    @property
    def kind(self) -> str:
        return self.completion.kind


def _parse_traceparent(header: str | None) -> TraceParent | None:
    parts = (header or "").split("-")
    if len(parts) != 4:
        return None
    return TraceParent(parts[1], parts[2], bool(int(parts[3], 16) & 1))  # flags 03: sampled + random trace id


class TracedOpenAI:
    """An OpenAI SDK client against `base_url` (the gateway), traced into `collector_otlp_grpc`.
    Use as a context manager: it instruments the SDK on entry and takes the instrumentation off
    (and flushes its spans) on exit."""

    def __init__(self, base_url: str, collector_otlp_grpc: str, service: str = CLIENT_SERVICE, timeout_s: float = 60.0):
        self.provider = TracerProvider(resource=Resource.create({"service.name": service}))
        # One export per span, at its end: the suite looks for it at once.
        self.provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=collector_otlp_grpc, insecure=True)))
        self.instrumentor = OpenAIInstrumentor()
        self._sent: list[str | None] = []
        self.http = httpx.Client(event_hooks={"request": [self._inject]}, timeout=timeout_s)
        self.client = openai.OpenAI(base_url=base_url.rstrip("/") + "/v1", api_key="unused-by-the-gateway",
                                    http_client=self.http, max_retries=0)
        self.base_url = base_url

    def _inject(self, request: httpx.Request) -> None:
        propagate.inject(request.headers)
        self._sent.append(request.headers.get("traceparent"))

    def __enter__(self) -> "TracedOpenAI":
        self.instrumentor.instrument(tracer_provider=self.provider)
        return self

    def __exit__(self, *exc) -> None:
        self.instrumentor.uninstrument()
        self.provider.shutdown()
        self.http.close()

    def send(self, model: str, *, chat: bool, stream: bool, max_tokens: int = 8) -> SdkCall:
        self._sent.clear()
        started, t0 = datetime.now(timezone.utc), time.monotonic()
        common = {"model": model, "max_tokens": max_tokens, "temperature": 0}
        if stream:
            common.update(stream=True, stream_options={"include_usage": True})
        try:
            if chat:
                result = self.client.chat.completions.create(messages=[{"role": "user", "content": "Say hello."}], **common)
            else:
                result = self.client.completions.create(prompt=PROMPT, **common)
            response = _collect(result) if stream else _single(result)
        except openai.APIError as exc:
            raise HarnessError(f"the OpenAI SDK's {'chat' if chat else 'completions'} call to {self.base_url} "
                               f"failed: {type(exc).__name__}: {exc}") from None
        sent = _parse_traceparent(self._sent[0] if self._sent else None)
        completion = Completion("chat" if chat else "completion", sent or TraceParent.new(), 200, response["id"],
                                response["text"], started, time.monotonic() - t0)
        for observe in list(traffic.observers):
            observe(completion)
        return SdkCall(completion, sent, stream, response["model"], response["prompt_tokens"],
                       response["completion_tokens"])


def _text(choice) -> str:
    message = getattr(choice, "message", None) or getattr(choice, "delta", None)
    return (getattr(message, "content", None) if message is not None else getattr(choice, "text", None)) or ""


def _single(result) -> dict:
    usage = result.usage
    return {"id": result.id, "model": result.model, "text": "".join(_text(c) for c in result.choices),
            "prompt_tokens": usage.prompt_tokens if usage else None,
            "completion_tokens": usage.completion_tokens if usage else None}


def _collect(stream) -> dict:
    out = {"id": None, "model": None, "text": "", "prompt_tokens": None, "completion_tokens": None}
    for chunk in stream:  # consumed to the end: the instrumentation ends its span there
        out["id"] = out["id"] or chunk.id
        out["model"] = out["model"] or chunk.model
        out["text"] += "".join(_text(c) for c in chunk.choices)
        if chunk.usage:
            out["prompt_tokens"], out["completion_tokens"] = chunk.usage.prompt_tokens, chunk.usage.completion_tokens
    return out
