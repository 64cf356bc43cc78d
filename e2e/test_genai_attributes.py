"""vLLM's llm_request says what the response said: its token counts are the response's `usage`,
its gen_ai.request.id the response id, its kind SERVER, any model it names the served one; plain,
chat and streamed (a stream's usage from its last chunk, asked for with include_usage). And,
apart, what the current GenAI semantic conventions require that it lacks (a known gap)."""
from __future__ import annotations

import pytest

from llmd_trace_e2e.traces.genai import MatchesResponse, semconv_gaps
from llmd_trace_e2e.traces.span_queries import SpansOf

from pytest_llmd_trace.suite import LlmRequestOf, declare_known_gap, service_or_skip

pytestmark = pytest.mark.guide("What Gets Traced")

KINDS = ("completion", "chat", "stream")


def llm_request(platform, service, done):
    spans = platform.expect_spans(SpansOf.around(service, done.started), [LlmRequestOf(service, done)],
                                  f"vLLM's llm_request for response {done.response_id}")
    return spans, next(s for s in spans if s.service == service and s.name == "llm_request" and done.is_request_of(s))


@pytest.mark.promise("genai: llm_request's token counts, request id, kind and model are the response's")
@pytest.mark.parametrize("kind", KINDS)
def test_llm_request_matches_the_response(platform, completions, kind):
    service = service_or_skip(platform, "vllm-decode")
    done = completions[kind]
    assert done.usage and done.usage.get("completion_tokens"), (
        f"positive control: the {kind} response carries no usage ({done.usage!r}); streams ask for it "
        "with stream_options.include_usage")
    spans, span = llm_request(platform, service, done)
    its_trace = [s for s in spans if s.trace_id == span.trace_id]
    platform.expect_spans_now(its_trace, [MatchesResponse(service, done, platform.model)],
                              f"vLLM's llm_request disagrees with the {kind} response it served (usage {done.usage})")


@pytest.mark.promise("genai: llm_request has what the GenAI semantic conventions require")
@pytest.mark.parametrize("kind", ("completion", "chat"))
def test_llm_request_has_the_genai_conventions_required_attributes(request, platform, completions, kind):
    service = service_or_skip(platform, "vllm-decode")
    done = completions[kind]
    _, span = llm_request(platform, service, done)
    declare_known_gap(request, platform, "vllm-genai-semconv")
    missing = semconv_gaps(span, done.kind)
    assert not missing, (
        f"vLLM's {span.name} lacks what the GenAI semantic conventions require: "
        + "; ".join(f"{f.check}: expected {f.expected}, got {f.actual}" for f in missing)
        + f" (its attributes: {sorted(span.attributes)})")
