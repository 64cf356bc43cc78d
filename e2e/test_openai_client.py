"""A real client: requests from the official OpenAI SDK, traced with OpenTelemetry's own OpenAI
instrumentation (llmd_trace_e2e/traffic/openai_sdk.py), as applications call an llm-d gateway.
The client's `chat {model}` span is the root of the request's trace; vLLM's llm_request, the
gateway's spans (when it traces) and the EPP's (where its version joins, else a known gap)
hang under it; the client's GenAI attributes agree with the response and with vLLM's."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from llmd_trace_e2e.traffic.openai_sdk import CLIENT_SERVICE, INSTRUMENTED_KINDS, SdkCall, TracedOpenAI
from llmd_trace_e2e.traces.assertions import Failure, JoinedInOneTrace, SpansExist
from llmd_trace_e2e.traces.span_queries import SpansInTrace, SpansOf

from pytest_llmd_trace.suite import (
    LlmRequestOf, declare_known_gaps, fails_its_tests, resend_until_the_epp_samples, service_or_skip)

pytestmark = pytest.mark.guide("What Gets Traced")

KINDS = ("chat", "chat-stream", "completion", "completion-stream")
TRACED_KINDS = [k for k in KINDS if k.split("-")[0] in INSTRUMENTED_KINDS]
UNTRACED_KINDS = [k for k in KINDS if k not in TRACED_KINDS]
TRACED_GATEWAY = {"gateway": {"tracing": {"enabled": True}}}


def send_all(platform, kinds) -> dict[str, SdkCall]:
    """One SDK call per kind that the EPP sampled, at any sampler ratio: a call the client traces
    carries its sampled traceparent, one it does not (the legacy completions API) none, and where
    the EPP then decides alone below ratio 1 the call is made again until it sampled one."""
    with TracedOpenAI(platform.gateway_url, platform.collector_otlp_grpc) as client:
        return {kind: sdk_call_the_epp_sampled(platform, client, kind) for kind in kinds}


def sdk_call_the_epp_sampled(platform, client, kind: str) -> SdkCall:
    def send():
        return client.send(platform.model, chat=kind.startswith("chat"), stream=kind.endswith("-stream"))

    return resend_until_the_epp_samples(platform, send, propagate=kind in TRACED_KINDS,
                                        completion_of=lambda call: call.completion).completion


@pytest.fixture(scope="module")
@fails_its_tests
def sdk_calls(platform) -> dict[str, SdkCall]:
    return send_all(platform, KINDS)


def client_span_name(platform) -> str:
    return f"chat {platform.model}"


def trace_of(call: SdkCall) -> SpansInTrace:
    return SpansInTrace(call.completion.traceparent.trace_id)


@dataclass(frozen=True)
class ClientSpanIsRoot:
    """The span the client's traceparent named: its instrumentation's CLIENT span, with no parent."""

    call: SdkCall
    name: str

    @property
    def description(self) -> str:
        return f"{CLIENT_SERVICE}:{self.name} ({self.call.sent_traceparent.span_id}) is a CLIENT root span"

    def __call__(self, spans) -> list[Failure]:
        span = next((s for s in spans if s.span_id == self.call.sent_traceparent.span_id), None)
        if span is None:
            return [Failure(self.description, "present", "absent")]
        actual = f"{span.service}:{span.name}, kind {span.kind}, parent {span.parent_span_id}"
        ok = (span.service, span.name, span.kind, span.parent_span_id) == (CLIENT_SERVICE, self.name, "CLIENT", None)
        return [] if ok else [Failure(self.description, f"{CLIENT_SERVICE}:{self.name}, kind CLIENT, parent None", actual)]


@dataclass(frozen=True)
class GenAiAgrees:
    """The client span's GenAI attributes agree with the response the SDK returned and with
    vLLM's llm_request (which names its token counts prompt_tokens/completion_tokens)."""

    call: SdkCall
    model: str
    vllm: str
    description: str = "the client's GenAI attributes agree with the response and with vLLM's llm_request"

    def __call__(self, spans) -> list[Failure]:
        client = next((s for s in spans if s.span_id == self.call.sent_traceparent.span_id), None)
        vllm = next((s for s in spans if s.service == self.vllm and s.name == "llm_request"
                     and self.call.completion.is_request_of(s)), None)
        if client is None or vllm is None:
            return [Failure(self.description, "the client span and llm_request", f"client {client}, llm_request {vllm}")]
        usage = vllm.attributes
        expected = [  # (attribute of the client span, where the value comes from, the value)
            ("gen_ai.request.model", "the request", self.model),
            ("gen_ai.response.model", "the response", self.call.response_model),
            ("gen_ai.response.id", "the response", self.call.completion.response_id),
            ("gen_ai.usage.input_tokens", "the response's usage", self.call.prompt_tokens),
            ("gen_ai.usage.input_tokens", "llm_request's gen_ai.usage.prompt_tokens", usage.get("gen_ai.usage.prompt_tokens")),
            ("gen_ai.usage.output_tokens", "the response's usage", self.call.completion_tokens),
            ("gen_ai.usage.output_tokens", "llm_request's gen_ai.usage.completion_tokens",
             usage.get("gen_ai.usage.completion_tokens")),
        ]
        failures = []
        for key, source, value in expected:
            got = client.attributes.get(key)
            if value is None or got != value:
                failures.append(Failure(f"client span {key} == {source}", repr(value), repr(got)))
        return failures


@pytest.mark.parametrize("kind", TRACED_KINDS)
def test_client_span_is_the_root_of_the_requests_trace(platform, sdk_calls, kind):
    call = sdk_calls[kind]
    assert call.sent_traceparent is not None, (
        f"the SDK's {kind} request carried no traceparent: the OpenAI instrumentation made no span for it "
        f"(logs: {platform.logs_hint()})")
    platform.expect_spans(trace_of(call), [ClientSpanIsRoot(call, client_span_name(platform))],
                          f"the OpenAI SDK's {kind} span as the root of trace {call.sent_traceparent.trace_id}")


@pytest.mark.parametrize("kind", TRACED_KINDS)
def test_vllm_span_joins_the_clients_trace(platform, sdk_calls, kind):
    vllm = service_or_skip(platform, "vllm-decode")
    call = sdk_calls[kind]
    tp = call.completion.traceparent
    platform.expect_spans(trace_of(call),
                          [JoinedInOneTrace(tp.trace_id, ((CLIENT_SERVICE, client_span_name(platform)), (vllm, "llm_request")))],
                          f"vLLM's llm_request under the OpenAI SDK's {kind} span (trace {tp.trace_id})")


@pytest.mark.parametrize("kind", TRACED_KINDS)
def test_epp_span_joins_the_clients_trace(request, platform, sdk_calls, kind):
    epp = service_or_skip(platform, "epp")
    declare_known_gaps(request, platform, ["epp"], ("no-spans", "no-join"))
    call = sdk_calls[kind]
    tp = call.completion.traceparent
    platform.expect_spans(SpansOf.around(epp, call.completion.started), [SpansExist(epp, "gateway.request")],
                          "the EPP's span for the request, in whatever trace (positive control)")
    chain = ((CLIENT_SERVICE, client_span_name(platform)), (epp, "gateway.request"))
    platform.expect_spans_now(trace_of(call), [JoinedInOneTrace(tp.trace_id, chain)],
                              f"the EPP's gateway.request under the OpenAI SDK's {kind} span (trace {tp.trace_id})")


@pytest.mark.parametrize("kind", TRACED_KINDS)
def test_client_genai_attributes_agree_with_the_response_and_vllm(platform, sdk_calls, kind):
    vllm = service_or_skip(platform, "vllm-decode")
    call = sdk_calls[kind]
    platform.expect_spans(trace_of(call), [GenAiAgrees(call, platform.model, vllm)],
                          f"GenAI attributes of the OpenAI SDK's {kind} call (trace {call.completion.traceparent.trace_id})")


@pytest.mark.parametrize("kind", UNTRACED_KINDS)
def test_completions_call_makes_no_client_span(platform, sdk_calls, kind):
    """What the pinned instrumentation does with the legacy completions API: no span, so no
    traceparent; the request still goes through and vLLM still traces it (positive control)."""
    vllm = service_or_skip(platform, "vllm-decode")
    call = sdk_calls[kind]
    platform.expect_spans(SpansOf.around(vllm, call.completion.started), [LlmRequestOf(vllm, call.completion)],
                          f"vLLM's llm_request for the SDK's {kind} call (positive control)")
    chat = sdk_calls["chat"]
    platform.expect_spans(trace_of(chat), [SpansExist(CLIENT_SERVICE, client_span_name(platform))],
                          "the same client's chat span (positive control: the client exports)")
    assert call.sent_traceparent is None, (
        f"the SDK's {kind} request carried traceparent {call.sent_traceparent.header}: the OpenAI instrumentation "
        "now traces completions; add 'completion' to INSTRUMENTED_KINDS in llmd_trace_e2e/traffic/openai_sdk.py")


@pytest.mark.variant(restarts="gateway")
def test_traced_gateway_joins_the_clients_trace(platform):
    """With the gateway tracing, its SERVER span hangs under the client's span and vLLM's under it."""
    if platform.gateway_service is None and platform.name != "local":
        pytest.skip("the run's values leave the gateway transparent: pass --values with gateway.tracing.enabled: true")
    if "server" not in platform.profile.gateway_spans:
        pytest.skip(f"profile {platform.profile.name} does not name its gateway's spans (gateway.spans.server)")
    vllm = service_or_skip(platform, "vllm-decode")
    if platform.gateway_service is None:
        platform.apply_variant(TRACED_GATEWAY)
    call = send_all(platform, ["chat"])["chat"]
    tp = call.completion.traceparent
    members = ((CLIENT_SERVICE, client_span_name(platform)),
               (platform.gateway_service, platform.profile.gateway_spans["server"]), (vllm, "llm_request"))
    platform.expect_spans(trace_of(call), [JoinedInOneTrace(tp.trace_id, members)],
                          f"the OpenAI SDK's span, then the gateway's, then vLLM's (trace {tp.trace_id})")
    platform.reset()
