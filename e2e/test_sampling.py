"""Sampling on every hop. A request whose traceparent says "not sampled" (flags 00) leaves no
span from any component, while the same request sampled leaves spans from each (the positive
control). At the guide's production ratio (samplerArg "0.1" in both charts), every trace that is
sampled is complete (the EPP's, with vLLM's llm_request in it; no llm_request without its
parent) and the share of sampled root traces lies within the binomial bounds for the number of
requests; a request that asks with a sampled traceparent is still traced where the component
honours it. What a test here counts it reads before the collector's filter where the platform
can (the local tap), else from Jaeger."""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

import pytest

from llmd_trace_e2e.platforms.abilities import SpanTap
from llmd_trace_e2e.traffic import completions as traffic
from llmd_trace_e2e.deployment.sampling import binomial_bounds, tries_to_see_one
from llmd_trace_e2e.traffic.completions import Completion
from llmd_trace_e2e.traffic.resend import NeverSampled, Sampled
from llmd_trace_e2e.traces.assertions import SpansExist
from llmd_trace_e2e.traces.model import Span
from llmd_trace_e2e.traces.request import incomplete_sampled_traces, root_during, spans_of_request

from pytest_llmd_trace.suite import (
    EPP_IGNORES_TRACEPARENT, EPP_ROOT_SPAN, declare_known_gap, fails_its_tests, resend_until_the_epp_samples,
    send_traced_by_every_hop, service_or_skip, tracing_overlay)

pytestmark = pytest.mark.guide("Production Sampling")

RATIO = "0.1"  # the guide's production sampler arg (and both EPP charts' default)
REQUESTS_AT_RATIO = 200  # 1-token completions: bounds [8, 35] at 99.9 % (0.01 gives [0, 8], 0.5 [77, 123])
CONFIDENCE = 0.999


def all_spans(platform, since):
    """Every span exported since `since`: before the filter where observable, else in Jaeger."""
    if isinstance(platform, SpanTap):
        return [s for s in platform.unfiltered_spans() if s.end_ns / 1e9 >= since.timestamp()]
    return platform.traces.all_spans(since)


def of_service(spans, service):
    return [s for s in spans if s.service == service]


def component_param():
    return pytest.mark.parametrize("component", ("epp", "vllm-decode"))


@pytest.fixture(scope="module")
@fails_its_tests
def sampled_and_not(platform) -> tuple[Completion, list[Completion]]:
    """The same completion sampled (flags 01) by every hop, then not sampled (flags 00). Where
    the EPP may ignore the traceparent and samples below ratio 1, one unsampled request proves
    little either way: the unsampled ones go on until the EPP's root span shows one (what its
    gap predicts), at most as many as make missing that as unlikely as the bound allows."""
    sampled = send_traced_by_every_hop(platform).completion
    unsampled: list[Completion] = []

    def send_unsampled():
        unsampled.append(traffic.send(platform.gateway_url, platform.model,
                                      traceparent=traffic.TraceParent.new(sampled=False)))
        return unsampled[-1]

    try:
        resend_until_the_epp_samples(platform, send_unsampled, propagate=True)
    except NeverSampled:
        pass  # no EPP span for any of them: what an EPP that honours flags 00 does
    return sampled, unsampled


@pytest.mark.promise("sampling: a traceparent with flags 00 leaves no span from the component; its sampled twin does")
@component_param()
def test_unsampled_traceparent_leaves_no_span(request, platform, sampled_and_not, component):
    service = service_or_skip(platform, component)
    sampled, unsampled = sampled_and_not
    since = sampled.started - timedelta(seconds=1)
    platform.expect_spans(lambda: of_service(spans_of_request(all_spans(platform, since), sampled), service),
                          [SpansExist(service)], f"{component}'s spans for the sampled request (positive control)")
    if component == "epp":
        declare_known_gap(request, platform, EPP_IGNORES_TRACEPARENT)
    platform.settle(unsampled[-1])
    spans = all_spans(platform, since)
    left = [s for done in unsampled for s in of_service(spans_of_request(spans, done), service)]
    assert not left, (
        f"{len(unsampled)} request(s) with a traceparent with flags 00 (last {unsampled[-1].traceparent.header}), "
        f"yet {component} exported {len(left)} span(s) for them: "
        + ", ".join(sorted({f"{s.name} (trace {s.trace_id})" for s in left})) + f" (logs: {platform.logs_hint()})")


# --- at the guide's production ratio ------------------------------------------------------------------

@dataclass(frozen=True)
class AtRatio:
    epp: str
    vllm: str
    rooted: list[Completion]  # sent without traceparent: the EPP decides at the root
    asked: list[Completion]  # sent with a sampled traceparent
    every_hop: Sampled  # how the suite gets a request every component traced, at this ratio
    spans: list[Span]  # every span exported meanwhile


@pytest.fixture(scope="module")
@fails_its_tests
def at_ratio(platform) -> AtRatio:
    """At sampler arg 0.1: REQUESTS_AT_RATIO completions without traceparent, twenty with a
    sampled one, and the suite's way of asking for a request every hop traced; then every span
    exported meanwhile."""
    epp, vllm = service_or_skip(platform, "epp"), service_or_skip(platform, "vllm-decode")
    platform.apply_variant(tracing_overlay(platform, {"sampling": {"samplerArg": RATIO}}))
    t0 = time.monotonic()
    rooted = [traffic.send(platform.gateway_url, platform.model, propagate=False, max_tokens=1)
              for _ in range(REQUESTS_AT_RATIO)]
    asked = [traffic.send(platform.gateway_url, platform.model, max_tokens=1) for _ in range(20)]
    sending_s = time.monotonic() - t0
    t1 = time.monotonic()
    every_hop = send_traced_by_every_hop(platform, max_tokens=1)
    print(f"a request every hop traced: {every_hop.sent} sent, {time.monotonic() - t1:.1f} s")
    platform.settle(every_hop.completion)
    spans = all_spans(platform, rooted[0].started - timedelta(seconds=1))
    print(f"{len(rooted) + len(asked)} requests at sampler arg {RATIO} sent in {sending_s:.1f} s")
    return AtRatio(epp, vllm, rooted, asked, every_hop, spans)


def sampled_at_root(at: AtRatio) -> list[Completion]:
    return [done for done in at.rooted if root_during(at.spans, at.epp, done, EPP_ROOT_SPAN)]


@pytest.mark.promise("sampling: at sampler arg 0.1, the share of sampled root traces is within 99.9% binomial bounds")
@pytest.mark.variant
def test_sampled_share_at_ratio_is_within_binomial_bounds(platform, at_ratio):
    rooted = at_ratio.rooted
    sampled = len(sampled_at_root(at_ratio))
    lo, hi = binomial_bounds(len(rooted), float(RATIO), CONFIDENCE)
    print(f"sampled root traces at ratio {RATIO}: {sampled} of {len(rooted)} (bounds [{lo}, {hi}])")
    assert lo <= sampled <= hi, (
        f"{sampled} of {len(rooted)} requests were sampled at the root (the EPP) at sampler arg {RATIO}: "
        f"outside [{lo}, {hi}], where {CONFIDENCE:.1%} of runs fall (logs: {platform.logs_hint()})")


@pytest.mark.promise("sampling: at sampler arg 0.1, every sampled trace is complete and no llm_request is an orphan")
@pytest.mark.variant
def test_every_sampled_trace_is_complete_at_ratio(platform, at_ratio):
    sampled = len(sampled_at_root(at_ratio))
    assert sampled, f"positive control: none of {len(at_ratio.rooted)} requests sampled at ratio {RATIO}"
    broken = incomplete_sampled_traces(at_ratio.spans, at_ratio.rooted, (at_ratio.epp, EPP_ROOT_SPAN),
                                       platform.profile.spans.get("epp") or [], at_ratio.vllm)
    assert not broken, (f"{len(broken)} incomplete trace(s) among {sampled} sampled at ratio {RATIO}:\n  "
                        + "\n  ".join(broken[:20]) + f"\n(logs: {platform.logs_hint()})")


@pytest.mark.promise("sampling: at sampler arg 0.1, a request with a sampled traceparent is still traced")
@pytest.mark.variant
@component_param()
def test_a_sampled_traceparent_is_traced_at_ratio(request, platform, at_ratio, component):
    """How the suite asks for the spans it must see at any ratio: a sampled traceparent."""
    asked = at_ratio.asked
    service = service_or_skip(platform, component)
    if component == "epp":
        declare_known_gap(request, platform, EPP_IGNORES_TRACEPARENT)
    untraced = [done.traceparent.trace_id for done in asked
                if not of_service(spans_of_request(at_ratio.spans, done), service)]
    assert not untraced, (
        f"{len(untraced)} of {len(asked)} requests with a sampled traceparent left no {component} span at "
        f"sampler arg {RATIO}: traces {', '.join(untraced[:5])} (logs: {platform.logs_hint()})")


@pytest.mark.promise("sampling: at sampler arg 0.1, the suite still gets a request every component traced, "
                    "resending (within a bound) where the EPP decides alone")
@pytest.mark.variant
def test_every_hop_is_checkable_at_ratio(platform, at_ratio):
    """What makes every other check's verdict right at the guide's production ratio: the request
    the suite asks for carries the EPP's root span and vLLM's llm_request in the caller's trace."""
    done, sent = at_ratio.every_hop.completion, at_ratio.every_hop.sent
    bound = tries_to_see_one(float(RATIO), CONFIDENCE)
    assert sent <= bound, f"{sent} requests sent for one the EPP sampled: more than the bound {bound}"
    mine = spans_of_request(at_ratio.spans, done)
    found = {(s.service, s.name) for s in mine}
    wanted = {(at_ratio.epp, EPP_ROOT_SPAN), (at_ratio.vllm, "llm_request")}
    assert wanted <= found, (
        f"the request the suite picked as traced by every hop (trace {done.traceparent.trace_id}, response "
        f"{done.response_id}, found after {sent} sent) lacks {sorted(wanted - found)}; it has {sorted(found)} "
        f"(logs: {platform.logs_hint()})")


@pytest.mark.variant(from_baseline=True)
def test_sampler_arg_zero_exports_nothing(platform, span_tap):
    """samplerArg "0" in both charts: a request without traceparent (the EPP decides at the root)
    leaves no span at all, not even upstream of the collector's filter."""
    platform.reset()  # the positive control needs the baseline sampler, whatever variant ran before
    epp = service_or_skip(platform, "epp")
    vllm = service_or_skip(platform, "vllm-decode")
    ours = {epp, vllm}

    def tapped_since(count):
        return [s for s in span_tap.unfiltered_spans()[count:] if s.service in ours]

    before = len(span_tap.unfiltered_spans())
    # at a baseline ratio below 1, sent again until the EPP sampled one (else the control proves nothing)
    control = send_traced_by_every_hop(platform, propagate=False)
    platform.expect_spans(lambda: tapped_since(before), [SpansExist(epp, "gateway.request")],
                          f"a request without traceparent is traced at the baseline sampler (positive control, "
                          f"{control.sent} sent)")
    zero = {"sampling": {"samplerArg": "0"}}
    platform.apply_variant(tracing_overlay(platform, zero), on_purpose="the absence of every span at sampler ratio 0")
    before = len(span_tap.unfiltered_spans())
    done = traffic.send(platform.gateway_url, platform.model, propagate=False)
    platform.settle(done)
    arrived = tapped_since(before)
    assert done.status == 200
    assert not arrived, (
        f"sampler arg 0, yet {len(arrived)} span(s) of {sorted(ours)} reached the collector: "
        + ", ".join(sorted({f"{s.service}:{s.name}" for s in arrived})) + f" (logs: {platform.logs_hint()})")
