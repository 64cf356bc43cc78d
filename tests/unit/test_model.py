import json
from pathlib import Path

from llmd_trace_e2e.traces.jaeger import spans_from_response
from llmd_trace_e2e.traces.model import Trace, group_traces, spans_from_otlp_json

from .spans import CLIENT_PARENT, TRACE, full_path

DATA = Path(__file__).parent.parent / "data"


def test_otlp_json_decodes_ids_kinds_and_attribute_types():
    doc = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "vllm-decode"}}]},
        "scopeSpans": [{"scope": {"name": "vllm.tracing.otel"}, "spans": [{
            "traceId": "0AF7651916CD43DD8448EB211C80319C", "spanId": "00f067aa0ba902b7",
            "parentSpanId": "", "name": "llm_request", "kind": 2,
            "startTimeUnixNano": "1000", "endTimeUnixNano": "3001000",
            "attributes": [
                {"key": "s", "value": {"stringValue": "x"}}, {"key": "i", "value": {"intValue": "7"}},
                {"key": "b", "value": {"boolValue": True}}, {"key": "d", "value": {"doubleValue": 0.5}},
                {"key": "a", "value": {"arrayValue": {"values": [{"stringValue": "p"}]}}},
            ]}]}]}]}
    [s] = spans_from_otlp_json(doc)
    assert (s.trace_id, s.span_id, s.parent_span_id) == ("0af7651916cd43dd8448eb211c80319c", "00f067aa0ba902b7", None)
    assert (s.service, s.scope, s.kind, s.name) == ("vllm-decode", "vllm.tracing.otel", "SERVER", "llm_request")
    assert s.attributes == {"s": "x", "i": 7, "b": True, "d": 0.5, "a": ["p"]}
    assert s.duration_ms == 3.0


def test_base64_ids_and_string_kinds_are_accepted():
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": "CvdlGRbNQ92ESOshHIAxnA==", "spanId": "APBnqgupArc=", "kind": "SPAN_KIND_CLIENT", "name": "x"}]}]}]}
    [s] = spans_from_otlp_json(doc)
    assert s.trace_id == "0af7651916cd43dd8448eb211c80319c" and s.span_id == "00f067aa0ba902b7"
    assert s.kind == "CLIENT" and s.service == "unknown_service"


def test_trace_structure_roots_children_ancestors():
    [trace] = group_traces(full_path())
    assert isinstance(trace, Trace) and trace.trace_id == TRACE
    [root] = trace.roots()
    assert root.name == "gateway.request" and root.parent_span_id == CLIENT_PARENT
    assert [c.name for c in trace.children(root.span_id)] == ["pick_endpoints", "forward_request"]
    vllm = next(s for s in trace.spans if s.name == "llm_request")
    assert [a.name for a in trace.ancestors(vllm)] == ["forward_request", "gateway.request"]


def test_recorded_jaeger_v3_trace_response_decodes():
    body = (DATA / "jaeger-v3-trace.json").read_text()
    spans = spans_from_response(body)
    assert spans, "the recorded response holds spans"
    assert {s.service for s in spans} == set(json.loads((DATA / "jaeger-v3-trace.expect.json").read_text())["services"])
    assert all(len(s.trace_id) == 32 and len(s.span_id) == 16 for s in spans)
