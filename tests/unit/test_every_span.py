"""A check over every span refuses to pass on none (it is its own positive control)."""
import pytest

from llmd_trace_e2e.traces.assertions import EverySpan, NoMetricsSpans, TraceAssertionError, expect_now

from .spans import full_path, span


def versioned(s) -> str | None:
    return None if s.attributes.get("service.version") else "carries no service.version"


def test_it_fails_on_no_span_saying_what_to_do():
    [failure] = EverySpan("every span carries service.version", versioned)([])
    assert failure.expected == "at least one span to check"
    assert "never arrived" in failure.actual and "wait for them first" in failure.actual
    with pytest.raises(TraceAssertionError, match="at least one span to check"):
        expect_now([], [NoMetricsSpans()])


def test_it_passes_when_every_span_holds():
    spans = [span("vllm-decode", "llm_request", "1" * 16, **{"service.version": "0.1"})]
    assert EverySpan("every span carries service.version", versioned)(spans) == []


def test_it_names_each_span_that_does_not_hold():
    spans = full_path()
    failures = EverySpan("every span carries service.version", versioned)(spans)
    assert len(failures) == len(spans)
    assert failures[0].actual.startswith(f"{spans[0].service}:{spans[0].name} (trace {spans[0].trace_id}) carries no")
