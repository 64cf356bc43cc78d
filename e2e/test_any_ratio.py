"""Right at any ratio: a check that needs a request traced gets one at a sampler ratio below 1.
Three checks once sent one request and expected it traced, and failed at a quarter ratio: the
EPP's span for an abandoned stream, vLLM's span for an OpenAI SDK completions call (which carries
no traceparent), and a request without traceparent at the baseline sampler. Here each gets its
request at sampler arg 0.25 in the EPP's values: sent once where a sampled traceparent reaches an
EPP that honours it, else again until the EPP's root span shows it sampled one, within the bound
for that ratio. (vLLM's sampler is parent-based and every request reaches it with a parent, the
caller's or the EPP's, so the EPP's ratio is the one that decides; the run's own values stay on
vLLM, which then needs no restart.)"""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from llmd_trace_e2e.deployment.sampling import tries_to_see_one
from llmd_trace_e2e.traffic.completions import Completion
from llmd_trace_e2e.traffic.openai_sdk import INSTRUMENTED_KINDS, SdkCall, TracedOpenAI
from llmd_trace_e2e.traffic.resend import Sampled
from llmd_trace_e2e.traces.assertions import SpansExist
from llmd_trace_e2e.traces.request import request_spans_in_jaeger
from llmd_trace_e2e.traces.span_queries import SpansOf

from pytest_llmd_trace.abandoned_streams import Abandoned, abandoned_the_epp_sampled
from pytest_llmd_trace.suite import (
    LlmRequestOf, epp_root_ratio, fails_its_tests, resend_until_the_epp_samples, send_traced_by_every_hop,
    service_or_skip, tracing_overlay)

pytestmark = [pytest.mark.guide("Production Sampling"), pytest.mark.variant(from_baseline=True)]

QUARTER = "0.25"


@dataclass(frozen=True)
class AtAQuarter:
    epp: str
    vllm: str
    abandoned: Sampled[Abandoned]
    sdk_completion: Sampled[SdkCall]
    rootless: Sampled[Completion]


@pytest.fixture(scope="module")
@fails_its_tests
def at_a_quarter(platform) -> AtAQuarter:
    epp, vllm = service_or_skip(platform, "epp"), service_or_skip(platform, "vllm-decode")
    if "completion" in INSTRUMENTED_KINDS:
        pytest.skip("the OpenAI instrumentation now traces completions calls: no call without traceparent to send")
    platform.apply_variant(tracing_overlay(platform, {"sampling": {"samplerArg": QUARTER}}, ("epp",)))
    ratio = epp_root_ratio(platform)
    assert ratio == float(QUARTER), f"the EPP's values say sampler ratio {QUARTER}, its render says {ratio}"
    abandoned = abandoned_the_epp_sampled(platform)
    with TracedOpenAI(platform.gateway_url, platform.collector_otlp_grpc) as client:
        sdk = resend_until_the_epp_samples(platform, lambda: client.send(platform.model, chat=False, stream=False),
                                           propagate=False, completion_of=lambda call: call.completion)
    rootless = send_traced_by_every_hop(platform, propagate=False)
    print(f"at sampler arg {QUARTER}: an abandoned stream the EPP sampled after {abandoned.sent} sent, "
          f"an SDK completions call after {sdk.sent}, "
          f"a request without traceparent after {rootless.sent} (bound {tries_to_see_one(ratio)})")
    return AtAQuarter(epp, vllm, abandoned, sdk, rootless)


@pytest.mark.promise("sampling: at sampler arg 0.25, the EPP's span for an abandoned stream is there to check")
def test_the_epps_span_for_an_abandoned_stream_at_a_quarter_ratio(platform, at_a_quarter):
    done = at_a_quarter.abandoned.completion.completion
    platform.expect_spans(lambda: request_spans_in_jaeger(platform.traces, done),
                          [SpansExist(at_a_quarter.epp, "gateway.request")],
                          f"the EPP's gateway.request for the stream abandoned at sampler arg {QUARTER} "
                          f"(response {done.response_id})")


@pytest.mark.promise("sampling: at sampler arg 0.25, vLLM's span for an SDK call without traceparent is there to check")
def test_vllms_span_for_an_sdk_completions_call_at_a_quarter_ratio(platform, at_a_quarter):
    call = at_a_quarter.sdk_completion.completion
    assert call.sent_traceparent is None, (
        f"the SDK's completions call carried traceparent {call.sent_traceparent.header}: it no longer leaves "
        "the sampling decision to the EPP, so this test checks nothing")
    platform.expect_spans(SpansOf.around(at_a_quarter.vllm, call.completion.started),
                          [LlmRequestOf(at_a_quarter.vllm, call.completion)],
                          f"vLLM's llm_request for the SDK's completions call at sampler arg {QUARTER} "
                          f"({at_a_quarter.sdk_completion.sent} sent)")


@pytest.mark.promise("sampling: at sampler arg 0.25, a request without traceparent that the EPP traces is there to check")
def test_a_request_without_traceparent_at_a_quarter_ratio(platform, at_a_quarter):
    done = at_a_quarter.rootless.completion
    platform.expect_spans(lambda: request_spans_in_jaeger(platform.traces, done),
                          [SpansExist(at_a_quarter.epp, "gateway.request"), LlmRequestOf(at_a_quarter.vllm, done)],
                          f"the EPP's root span and vLLM's llm_request for a request without traceparent at sampler arg "
                          f"{QUARTER} ({at_a_quarter.rootless.sent} sent)")
