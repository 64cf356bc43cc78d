"""The real collector and Jaeger: /metrics canaries dropped by the repo's config, kept
without the filter, ordinary spans kept, and assertions that explain themselves."""
import pytest

from llmd_trace_e2e.traffic.canaries import CONTROL_CANARIES, metrics_canaries, send_canaries
from llmd_trace_e2e.traces.assertions import JoinedInOneTrace, SpansExist, TraceAssertionError, expect
from llmd_trace_e2e.traces.patterns import GUIDE_PATTERNS
from llmd_trace_e2e.traffic.filter_verdict import check_canaries

pytestmark = pytest.mark.integration


def outcomes_by_label(pipeline):
    outcomes = check_canaries(pipeline.collector.otlp_grpc_endpoint, pipeline.backend.client())
    return {o.sent.canary.label: o for o in outcomes}


def test_each_metrics_canary_is_dropped_and_controls_arrive(pipeline):
    outcomes = outcomes_by_label(pipeline)
    leaked = [label for label, o in outcomes.items() if o.sent.canary.must_drop and o.arrived]
    lost = [label for label, o in outcomes.items() if not o.sent.canary.must_drop and not o.arrived]
    assert not leaked, f"/metrics canaries that reached Jaeger: {leaked} (collector log: {pipeline.collector.proc.log_path})"
    assert not lost, f"ordinary spans that never reached Jaeger: {lost} (collector log: {pipeline.collector.proc.log_path})"
    assert len(outcomes) == len(GUIDE_PATTERNS) + len(CONTROL_CANARIES)


def test_the_tap_and_the_filter_count_saw_the_dropped_canaries(pipeline):
    sent = send_canaries(pipeline.collector.otlp_grpc_endpoint, metrics_canaries())
    ids = {s.trace_id for s in sent}
    expect(pipeline.collector.tap_spans, [_TapHas(ids)], timeout_s=10)
    assert pipeline.collector.filtered_spans() >= len(ids)


def test_without_the_filter_every_metrics_canary_arrives(unfiltered_pipeline):
    outcomes = outcomes_by_label(unfiltered_pipeline)
    dropped = [label for label, o in outcomes.items() if not o.arrived]
    assert not dropped, f"without the filter these canaries still vanished: {dropped}; the negative check would be vacuous"


def test_a_missing_span_fails_with_what_arrived(pipeline):
    [sent] = send_canaries(pipeline.collector.otlp_grpc_endpoint, [CONTROL_CANARIES[2]], service="vllm-decode")
    client = pipeline.backend.client()
    expect(lambda: client.trace_spans(sent.trace_id), [SpansExist("vllm-decode", "llm_request")], timeout_s=10)
    with pytest.raises(TraceAssertionError) as info:
        expect(lambda: client.trace_spans(sent.trace_id),
               [JoinedInOneTrace(sent.trace_id, (("llm-d-epp", "gateway.request"), ("vllm-decode", "llm_request")))],
               timeout_s=1.5, logs_hint="the run folder")
    text = str(info.value)
    assert "llm-d-epp:gateway.request in the trace | present | absent; found nowhere" in text
    assert "vllm-decode: 1 span(s): llm_request" in text
    assert f"trace {sent.trace_id} (1 spans)" in text


class _TapHas:
    def __init__(self, trace_ids):
        self.trace_ids = trace_ids
        self.description = f"{len(trace_ids)} canaries in the collector's unfiltered tap"

    def __call__(self, spans):
        from llmd_trace_e2e.traces.assertions import Failure

        missing = self.trace_ids - {s.trace_id for s in spans}
        return [Failure(self.description, "all", f"{len(missing)} missing")] if missing else []
