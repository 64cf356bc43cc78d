import pytest

from llmd_trace_e2e.traces.assertions import (
    JoinedInOneTrace, NoMetricsSpans, NoSpansFrom, SpansExist, TraceAssertionError, evaluate, expect,
    expect_now)

from .spans import CLIENT_PARENT, TRACE, full_path, span

CHAIN = (("llm-d-epp", "gateway.request"), ("routing-proxy", "forward_request"), ("vllm-decode", "llm_request"))


def joined(**kw):
    return JoinedInOneTrace(TRACE, CHAIN, external_parent=CLIENT_PARENT, **kw)


def test_full_path_passes_every_check():
    checks = [SpansExist("llm-d-epp", "gateway.request"), SpansExist("vllm-decode"), joined(), NoMetricsSpans()]
    assert evaluate(checks, full_path()) == []


def test_missing_span_names_what_the_service_did_send():
    [f] = SpansExist("llm-d-epp", "llm_d.epp.scoring")(full_path())
    assert f.actual == "0 (its spans: gateway.request, pick_endpoints)"


def test_vllm_in_another_trace_is_reported_with_that_trace():
    spans = full_path()
    spans[-1] = span("vllm-decode", "llm_request", "3000000000000001", parent=None, trace="f" * 32)
    failures = joined()(spans)
    assert any("absent; found in other trace(s) " + "f" * 32 in f.actual for f in failures)


def test_broken_parent_chain_and_orphans_are_failures():
    spans = full_path()
    spans[-1] = span("vllm-decode", "llm_request", "3000000000000001", parent="1000000000000002")
    failures = joined()(spans)
    assert [f.check for f in failures] == ["routing-proxy:forward_request is an ancestor of vllm-decode:llm_request"]
    assert "parent is llm-d-epp:pick_endpoints" in failures[0].actual
    spans[-1] = span("vllm-decode", "llm_request", "3000000000000001", parent="dead00000000beef")
    assert any(f.check == "parent links hold together" for f in joined()(spans))


def test_metrics_span_is_named_with_its_pattern():
    spans = full_path() + [span("routing-proxy", "GET /metrics", "4000000000000001", parent=None, trace="e" * 32)]
    [f] = NoMetricsSpans()(spans)
    assert "routing-proxy:GET /metrics" in f.actual and 'name == "GET /metrics"' in f.actual


def test_no_spans_from():
    assert NoSpansFrom("llm-d-epp")(full_path())[0].actual.startswith("2 name(s)")
    assert NoSpansFrom("nobody")(full_path()) == []


def test_failure_message_shows_table_inventory_tree_and_logs():
    with pytest.raises(TraceAssertionError) as info:
        expect(lambda: full_path()[:2], [joined()], timeout_s=0.2, logs_hint="artifacts/run-1")
    text = str(info.value)
    assert "| check | expected | actual |" in text
    assert "routing-proxy:forward_request in the trace | present | absent; found nowhere" in text
    assert "llm-d-epp: 2 span(s): gateway.request, pick_endpoints" in text
    assert f"trace {TRACE} (2 spans)" in text and "llm-d-epp :: gateway.request [SERVER]" in text
    assert "logs and artifacts: artifacts/run-1" in text
    assert len(info.value.failures) == 2


def test_expect_returns_once_spans_arrive():
    calls = iter([[], full_path()[:1], full_path()])
    spans = expect(lambda: next(calls), [joined()], timeout_s=5)
    assert len(spans) == 4


def test_expect_now_passes_silently_and_fails_loudly():
    expect_now(full_path(), [NoMetricsSpans()])
    with pytest.raises(TraceAssertionError, match="no span matches a /metrics pattern"):
        expect_now([span("x", "GET", "5" * 16)], [NoMetricsSpans()])
