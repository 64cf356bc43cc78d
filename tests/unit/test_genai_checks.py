"""llm_request against the response it served, and against the GenAI conventions, on fake spans."""
from dataclasses import replace
from datetime import datetime, timezone

from llmd_trace_e2e.traces.genai import MatchesResponse, semconv_gaps
from llmd_trace_e2e.traffic.completions import Completion, TraceParent

from .spans import span

USAGE = {"prompt_tokens": 6, "completion_tokens": 8, "total_tokens": 14}


def done(**kw) -> Completion:
    base = Completion("completion", TraceParent("a" * 32, "b" * 16), 200, "cmpl-1", "", datetime.now(timezone.utc),
                      0.1, USAGE, "tiny")
    return replace(base, **kw)


def llm_request(**attrs):
    return span("vllm", "llm_request", "c000000000000001", **{"gen_ai.request.id": "cmpl-1-0",
                                                             "gen_ai.usage.prompt_tokens": 6,
                                                             "gen_ai.usage.completion_tokens": 8, **attrs})


def test_a_span_that_says_what_the_response_says_passes():
    assert MatchesResponse("vllm", done(), "tiny")([llm_request()]) == []


def test_each_disagreement_is_named():
    wrong = [llm_request(**{"gen_ai.usage.completion_tokens": 7, "gen_ai.response.model": "other"})]
    failures = MatchesResponse("vllm", done(), "tiny")(wrong)
    assert {f.check for f in failures} == {"llm_request gen_ai.usage.completion_tokens (the response's usage)",
                                           "llm_request gen_ai.response.model"}
    assert MatchesResponse("vllm", done(), "tiny")([replace(llm_request(), kind="INTERNAL")])[0].expected == "SERVER"
    assert "1 llm_request" in MatchesResponse("vllm", done(response_id="cmpl-2"), "tiny")([llm_request()])[0].expected


def test_semconv_names_what_vllm_lacks_and_nothing_once_it_is_there():
    lacking = {f.check for f in semconv_gaps(llm_request(), "completion")}
    assert lacking == {"gen_ai.operation.name on llm_request", "gen_ai.provider.name on llm_request",
                       "gen_ai.request.model on llm_request",
                       "span name {gen_ai.operation.name} {gen_ai.request.model}"}
    conforming = replace(llm_request(**{"gen_ai.operation.name": "text_completion", "gen_ai.provider.name": "vllm",
                                        "gen_ai.request.model": "tiny"}), name="text_completion tiny")
    assert semconv_gaps(conforming, "completion") == []
