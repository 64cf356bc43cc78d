"""What the values switch: tracing off per component, sampling at 0, service names.

Each variant restarts only the components whose launch it changes. An absence is asserted
only after a positive control in the same variant arrived and `settle` proved the pipeline has
delivered everything (the slowest exporter's batch delay, then a barrier through the collector)."""
from __future__ import annotations

import pytest

from llmd_trace_e2e.traffic import completions as traffic
from llmd_trace_e2e.traffic.canaries import settle
from llmd_trace_e2e.platforms.base import expected_service
from llmd_trace_e2e.traces.assertions import NoSpansFrom, SpansExist, expect_now

from checks import LlmRequestOf, expect_spans, service_or_skip, spans_around

pytestmark = pytest.mark.variant


def ms_path(platform) -> str:
    return platform.profile.values_schema["modelservice"].path


def epp_path(platform) -> str:
    return platform.profile.values_schema["epp"].path


def nested(dotted: str, value):
    for part in reversed(dotted.split(".")):
        value = {part: value}
    return value


@pytest.mark.guide("Disabling Tracing")
def test_epp_tracing_off_and_vllm_renamed(platform):
    """inferenceExtension.tracing.enabled=false: no EPP spans; serviceNames.vllmDecode renames vLLM."""
    old_epp = service_or_skip(platform, "epp")
    overlay = {**nested(epp_path(platform), {"enabled": False}),
               **nested(ms_path(platform), {"serviceNames": {"vllmDecode": "vllm-decode-renamed"}})}
    with platform.variant(overlay):
        assert expected_service(platform.values, platform.profile, "vllm-decode") == "vllm-decode-renamed"
        done = traffic.send(platform.gateway_url, platform.model)
        expect_spans(platform, spans_around(platform, "vllm-decode-renamed", done),
                     [SpansExist("vllm-decode-renamed", "llm_request")],
                     "vLLM spans under the serviceNames override (positive control)")
        settle(platform, done)
        expect_now(spans_around(platform, old_epp, done)(), [NoSpansFrom(old_epp)],
                   context="EPP tracing disabled in the values, yet EPP spans arrived", logs_hint=platform.logs_hint(),
                   diagnosis=platform.diagnosis())


@pytest.mark.guide("Disabling Tracing")
def test_vllm_tracing_off(platform):
    """tracing.enabled=false in the model-service values: vLLM exports nothing, the EPP still does."""
    epp = service_or_skip(platform, "epp")
    vllm = service_or_skip(platform, "vllm-decode")
    with platform.variant(nested(ms_path(platform), {"enabled": False})):
        done = traffic.send(platform.gateway_url, platform.model)
        expect_spans(platform, spans_around(platform, epp, done), [SpansExist(epp, "gateway.request")],
                     "EPP spans with vLLM's tracing off (positive control)")
        settle(platform, done)
        expect_now(spans_around(platform, vllm, done)(), [LlmRequestOf(vllm, done, present=False)],
                   context="vLLM tracing disabled in the values, yet vLLM exported the request's span",
                   logs_hint=platform.logs_hint(), diagnosis=platform.diagnosis())


@pytest.mark.guide("Production Sampling")
def test_sampler_arg_zero_exports_nothing(platform):
    """samplerArg "0" in both charts: a request without traceparent (the EPP decides at the root)
    leaves no span at all, not even upstream of the collector's filter."""
    epp = service_or_skip(platform, "epp")
    vllm = service_or_skip(platform, "vllm-decode")
    ours = {epp, vllm}

    def tapped_since(count):
        return [s for s in (platform.unfiltered_spans() or [])[count:] if s.service in ours]

    before = len(platform.unfiltered_spans() or [])
    traffic.send(platform.gateway_url, platform.model, propagate=False)
    expect_spans(platform, lambda: tapped_since(before), [SpansExist(epp, "gateway.request")],
                 "a request without traceparent is traced at the baseline sampler (positive control)")
    zero = {"sampling": {"samplerArg": "0"}}
    with platform.variant({**nested(epp_path(platform), zero), **nested(ms_path(platform), zero)}):
        before = len(platform.unfiltered_spans() or [])
        done = traffic.send(platform.gateway_url, platform.model, propagate=False)
        settle(platform, done)
        arrived = tapped_since(before)
        assert done.status == 200
        assert not arrived, (
            f"sampler arg 0, yet {len(arrived)} span(s) of {sorted(ours)} reached the collector: "
            + ", ".join(sorted({f"{s.service}:{s.name}" for s in arrived})) + f" (logs: {platform.logs_hint()})")
