"""Span builders for unit tests (plain values, no collector involved)."""
from llmd_trace_e2e.traces.model import Span

TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_PARENT = "b7ad6b7169203331"


def span(service, name, span_id, parent=CLIENT_PARENT, trace=TRACE, start=0, end=1_000_000, **attrs):
    return Span(trace, span_id, parent, service, name, "SERVER", attrs, start, end, "test")


def full_path():
    """EPP -> proxy -> vLLM, parented as the versions that propagate everywhere would do."""
    return [
        span("llm-d-epp", "gateway.request", "1000000000000001", start=0, end=9_000_000),
        span("llm-d-epp", "pick_endpoints", "1000000000000002", parent="1000000000000001", start=1, end=2),
        span("routing-proxy", "forward_request", "2000000000000001", parent="1000000000000001", start=3, end=8),
        span("vllm-decode", "llm_request", "3000000000000001", parent="2000000000000001", start=4, end=7,
             **{"gen_ai.request.model": "tiny"}),
    ]
