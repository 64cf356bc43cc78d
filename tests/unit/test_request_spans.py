"""A request's spans, sampled-trace completeness and the binomial bounds, on fake spans."""
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from llmd_trace_e2e.deployment.sampling import binomial_bounds
from llmd_trace_e2e.traces.request import incomplete_sampled_traces, root_during, spans_of_request
from llmd_trace_e2e.traffic.completions import Completion, TraceParent

from .spans import span

T0 = 1_900_000_000.0  # seconds


def completion(at: float, rid: str, trace: str = "a" * 32) -> Completion:
    return Completion("completion", TraceParent(trace, "b" * 16), 200, rid, "", datetime.fromtimestamp(at, timezone.utc), 0.5)


def at(s, seconds: float):
    return replace(s, start_ns=int(seconds * 1e9), end_ns=int((seconds + 0.1) * 1e9))


def epp_trace(trace: str, when: float, with_llm: str | None = "cmpl-1"):
    spans = [at(span("epp", "gateway.request", "e000000000000001", parent=None, trace=trace), when),
             at(span("epp", "gateway.request_orchestration", "e000000000000002", parent="e000000000000001", trace=trace), when)]
    if with_llm:
        spans.append(at(span("vllm", "llm_request", "f000000000000001", parent="e000000000000001", trace=trace,
                             **{"gen_ai.request.id": with_llm + "-0"}), when))
    return spans


def test_a_requests_spans_are_its_trace_its_response_id_and_roots_during_it():
    done = completion(T0, "cmpl-1")
    own = epp_trace("c" * 32, T0 + 0.1)
    later = epp_trace("d" * 32, T0 + 5, with_llm="cmpl-2")
    scrape = [at(span("vllm", "GET /metrics", "9000000000000001", parent=None, trace="e" * 32), T0 + 0.2)]
    assert {s.trace_id for s in spans_of_request(own + later + scrape, done)} == {"c" * 32}


def test_a_complete_sampled_trace_has_no_problem_and_broken_ones_are_named():
    done = completion(T0, "cmpl-1")
    names = ["gateway.request", "gateway.request_orchestration"]
    good = epp_trace("c" * 32, T0 + 0.1)
    assert root_during(good, "epp", done, "gateway.request") is not None
    assert incomplete_sampled_traces(good, [done], ("epp", "gateway.request"), names, "vllm") == []
    no_llm = epp_trace("c" * 32, T0 + 0.1, with_llm=None)
    assert "no llm_request for cmpl-1" in incomplete_sampled_traces(no_llm, [done], ("epp", "gateway.request"), names, "vllm")[0]
    orphan = [s for s in good if s.service == "vllm"]  # the root was not sampled, vLLM exported anyway
    assert "without a sampled root" in incomplete_sampled_traces(orphan, [done], ("epp", "gateway.request"), names, "vllm")[0]
    short = [s for s in good if s.name != "gateway.request_orchestration"]
    assert "gateway.request_orchestration missing" in incomplete_sampled_traces(short, [done], ("epp", "gateway.request"),
                                                                                 names, "vllm")[0]


def test_binomial_bounds_tell_the_guides_ratio_from_its_neighbours():
    lo, hi = binomial_bounds(200, 0.1)
    assert (lo, hi) == (8, 35)
    assert binomial_bounds(200, 0.0) == (0, 0) and binomial_bounds(200, 1.0) == (200, 200)
    assert binomial_bounds(200, 0.5)[0] > hi and binomial_bounds(200, 0.01)[1] <= lo
    with pytest.raises(ValueError, match="between 0 and 1"):
        binomial_bounds(10, 1.5)
