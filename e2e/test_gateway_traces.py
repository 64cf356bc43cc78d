"""The gateway in traced mode (gateway.tracing.enabled: an Istio gateway with its Telemetry on;
locally, Envoy's OpenTelemetry tracer): its SERVER span continues the caller's trace, its
ext_proc CLIENT span hangs under it, and because it overwrites the upstream traceparent,
vLLM's llm_request becomes the gateway's child. Where the EPP's span hangs depends on whether
its version reads the gateway's context (a known gap where it does not).

On the local platform the traced mode is a variant (only Envoy restarts); on kind it is the
run's own values (`--values` with gateway.tracing.enabled: true)."""
from __future__ import annotations

import pytest

from llmd_trace_e2e.traces.assertions import JoinedInOneTrace, SpansExist
from llmd_trace_e2e.traces.span_queries import SpansInTrace, SpansOf

from pytest_llmd_trace.suite import declare_known_gap, fails_its_tests, send_traced_by_every_hop, service_or_skip

pytestmark = [pytest.mark.variant(restarts="gateway"), pytest.mark.guide("What Gets Traced")]
TRACED = {"gateway": {"tracing": {"enabled": True}}}


@pytest.fixture(scope="module")
@fails_its_tests
def traced(platform):
    """The platform with a tracing gateway, and one completion sent through it."""
    if not {"server", "ext_proc"} <= set(platform.profile.gateway_spans):
        pytest.skip(f"profile {platform.profile.name} does not name its gateway's spans "
                    "(config/profiles.yaml gateway.spans: server, ext_proc)")
    if platform.gateway_service is None:
        if platform.name != "local":
            pytest.skip("the run's values leave the gateway transparent: pass --values with "
                        "gateway.tracing.enabled: true to check the gateway's spans")
        platform.apply_variant(TRACED)
    yield platform, send_traced_by_every_hop(platform).completion
    platform.reset()


def gateway(platform) -> tuple[str, str, str]:
    names = platform.profile.gateway_spans
    return platform.gateway_service, names["server"], names["ext_proc"]


def trace_of(completion) -> SpansInTrace:
    return SpansInTrace(completion.traceparent.trace_id)


def test_gateway_span_continues_the_callers_trace(traced):
    platform, done = traced
    service, server, ext_proc = gateway(platform)
    tp = done.traceparent
    platform.expect_spans(trace_of(done),
                          [SpansExist(service, server), SpansExist(service, ext_proc),
                  JoinedInOneTrace(tp.trace_id, ((service, server), (service, ext_proc)), external_parent=tp.span_id)],
                 f"the gateway's spans in the caller's trace {tp.trace_id}")


def test_vllm_span_is_a_child_of_the_gateways_span(traced):
    """The hop after the gateway continues the gateway's span: vLLM's llm_request, or where a
    routing proxy runs in front of vLLM, the proxy's server span (and llm_request below it)."""
    platform, done = traced
    service, server, _ = gateway(platform)
    vllm = service_or_skip(platform, "vllm-decode")
    proxy = platform.profile.services["routing-proxy"] if platform.profile.runs("routing-proxy") else None
    tp = done.traceparent
    chain = ((service, server), *(((proxy, platform.profile.spans["routing-proxy"][0]),) if proxy else ()),
             (vllm, "llm_request"))
    spans = platform.expect_spans(trace_of(done),
                                  [JoinedInOneTrace(tp.trace_id, chain, external_parent=tp.span_id)],
                                  f"vLLM's llm_request under the gateway's {server} span (trace {tp.trace_id})")
    gateway_span = next(s for s in spans if s.service == service and s.name == server)
    ids = {s.span_id: s for s in spans}
    hop = next((s for s in spans if proxy and s.service == proxy and getattr(ids.get(s.parent_span_id), "service", None) != proxy),
               None) or next(s for s in spans if s.service == vllm and s.name == "llm_request")
    assert hop.parent_span_id == gateway_span.span_id, (
        f"{hop.service}:{hop.name}'s parent is {hop.parent_span_id}, expected the gateway's {server} span "
        f"{gateway_span.span_id}: the gateway overwrites the traceparent it sends upstream "
        f"(logs: {platform.logs_hint()})")


def test_epp_span_hangs_under_the_gateways_ext_proc_span(request, traced):
    platform, done = traced
    service, server, ext_proc = gateway(platform)
    epp = service_or_skip(platform, "epp")
    declare_known_gap(request, platform, "epp-ignores-gateway-context")
    tp = done.traceparent
    platform.expect_spans(SpansOf.around(epp, done.started), [SpansExist(epp, "gateway.request")],
                          "the EPP's span for the request, in whatever trace (positive control)")
    platform.expect_spans(trace_of(done), [SpansExist(service, ext_proc)],
                          f"the gateway's ext_proc span in the caller's trace {tp.trace_id}")
    chain = ((service, server), (service, ext_proc), (epp, "gateway.request"))
    platform.expect_spans_now(trace_of(done), [JoinedInOneTrace(tp.trace_id, chain, external_parent=tp.span_id)],
                              f"the EPP's gateway.request under the gateway's ext_proc span (trace {tp.trace_id})")
