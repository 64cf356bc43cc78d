"""Spans for the EPP, the routing proxy and vLLM, joined in the caller's trace."""
from __future__ import annotations

import pytest

from llmd_trace_e2e.traces.assertions import ChildOfCaller, JoinedInOneTrace, SpansExist
from llmd_trace_e2e.traces.span_queries import SpansInTrace, SpansOf

from pytest_llmd_trace.suite import (
    LlmRequestOf, declare_known_gap, declare_known_gaps, expect_spans_unless_gap, send_traced_by_every_hop,
    service_or_skip)

pytestmark = pytest.mark.guide("What Gets Traced")

KINDS = ("completion", "chat", "stream")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("component", ("epp", "routing-proxy", "vllm-decode"))
def test_component_exports_its_spans(request, platform, completions, component, kind):
    service = service_or_skip(platform, component)
    declare_known_gaps(request, platform, [component], ("no-spans",))
    names = platform.profile.spans.get(component) or []
    if not names:
        pytest.skip(f"profile {platform.profile.name} expects no spans from {component}: "
                    + "; ".join(g.reason for g in platform.profile.gaps_for(component)))
    completion = completions[kind]
    checks = [SpansExist(service, name) for name in names]
    platform.expect_spans(SpansOf.around(service, completion.started), checks,
                          f"{component} spans for the {kind} request (trace {completion.traceparent.trace_id})")


@pytest.mark.parametrize("kind", KINDS)
def test_vllm_span_joins_the_callers_trace(platform, completions, kind):
    """vLLM honours the traceparent that reaches it: its llm_request is in the caller's trace."""
    service = service_or_skip(platform, "vllm-decode")
    tp = completions[kind].traceparent
    platform.expect_spans(SpansInTrace(tp.trace_id),
                          [JoinedInOneTrace(tp.trace_id, ((service, "llm_request"),), external_parent=tp.span_id)],
                          f"vLLM's llm_request in the caller's trace {tp.trace_id}")


def test_epp_trace_continues_into_vllm(platform):
    """With no traceparent from the caller, the EPP starts the trace and the traceparent it
    injects carries it on: vLLM's llm_request is a descendant of the EPP's gateway.request."""
    epp, vllm = service_or_skip(platform, "epp"), service_or_skip(platform, "vllm-decode")
    done = send_traced_by_every_hop(platform, propagate=False).completion
    spans = platform.expect_spans(SpansOf.around(vllm, done.started), [LlmRequestOf(vllm, done)],
                                  f"vLLM's llm_request for response {done.response_id}")
    trace_id = next(s.trace_id for s in spans if done.is_request_of(s))
    platform.expect_spans(SpansInTrace(trace_id),
                          [JoinedInOneTrace(trace_id, ((epp, "gateway.request"), (vllm, "llm_request")))],
                          f"the EPP's trace {trace_id} continued into vLLM")


def test_epp_vllm_and_caller_in_one_trace(request, platform, completions):
    """The guide's promise: one trace from the caller through the EPP (and proxy) to vLLM."""
    completion = completions["completion"]
    tp = completion.traceparent
    members = [(service_or_skip(platform, "epp"), "gateway.request")]
    if platform.profile.runs("routing-proxy") and platform.profile.spans.get("routing-proxy"):
        members.append((service_or_skip(platform, "routing-proxy"), platform.profile.spans["routing-proxy"][0]))
    members.append((service_or_skip(platform, "vllm-decode"), "llm_request"))
    declare_known_gaps(request, platform, ["epp", "routing-proxy", "vllm-decode"], ("no-spans", "no-join"))
    declare_known_gap(request, platform, "epp-traceparent-beside-callers")
    expect_spans_unless_gap(request, platform, SpansInTrace(tp.trace_id),
                            [JoinedInOneTrace(tp.trace_id, tuple(members), external_parent=tp.span_id)],
                            f"one trace {tp.trace_id} from the caller through every component", completion)


@pytest.mark.parametrize("kind", KINDS)
def test_vllm_span_hangs_under_the_proxy_call(request, platform, completions, kind):
    """The routing proxy carries the trace on: its call to vLLM carries its own context (llm-d-router
    PR 1667, v0.10.0), so vLLM's llm_request is a child of a proxy span under its forward_request."""
    proxy, vllm = service_or_skip(platform, "routing-proxy"), service_or_skip(platform, "vllm-decode")
    declare_known_gap(request, platform, "proxy-call-carries-no-context")
    completion = completions[kind]
    tp = completion.traceparent
    expect_spans_unless_gap(request, platform, SpansInTrace(tp.trace_id),
                            [ChildOfCaller(tp.trace_id, (vllm, "llm_request"), proxy, platform.profile.spans["routing-proxy"][0])],
                            f"vLLM's llm_request under the routing proxy's call (trace {tp.trace_id})", completion)
