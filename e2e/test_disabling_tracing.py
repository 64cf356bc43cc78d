"""Disabling tracing per component in the values (and a per-component service name): the
component falls silent while the others keep exporting.

Each variant restarts only the components whose launch it changes. An absence is asserted
only after a positive control in the same variant arrived and `settle` proved the pipeline has
delivered everything (the slowest exporter's batch delay, then a barrier through the collector)."""
from __future__ import annotations

import pytest

from llmd_trace_e2e.traffic.canaries import settle
from llmd_trace_e2e.platforms.base import expected_service
from llmd_trace_e2e.traces.assertions import NoSpansFrom, SpansExist, expect_now

from llmd_trace_e2e.deployment.values import deep_merge

from pytest_llmd_trace.suite import (LlmRequestOf, expect_spans, send_traced_by_every_hop, service_or_skip, spans_around,
                    tracing_overlay)

pytestmark = [pytest.mark.variant, pytest.mark.guide("Disabling Tracing")]


def test_epp_tracing_off_and_vllm_renamed(platform):
    """inferenceExtension.tracing.enabled=false: no EPP spans; serviceNames.vllmDecode renames vLLM."""
    old_epp = service_or_skip(platform, "epp")
    service_or_skip(platform, "vllm-decode")  # its spans are the positive control
    overlay = deep_merge(tracing_overlay(platform, {"enabled": False}, ("epp",)),
                         tracing_overlay(platform, {"serviceNames": {"vllmDecode": "vllm-decode-renamed"}},
                                         ("modelservice",)))
    with platform.variant(overlay):
        assert expected_service(platform.values, platform.profile, "vllm-decode") == "vllm-decode-renamed"
        done = send_traced_by_every_hop(platform).completion
        expect_spans(platform, spans_around(platform, "vllm-decode-renamed", done),
                     [SpansExist("vllm-decode-renamed", "llm_request")],
                     "vLLM spans under the serviceNames override (positive control)")
        settle(platform, done)
        expect_now(spans_around(platform, old_epp, done)(), [NoSpansFrom(old_epp)],
                   context="EPP tracing disabled in the values, yet EPP spans arrived", logs_hint=platform.logs_hint(),
                   diagnosis=platform.diagnosis())


def test_vllm_tracing_off(platform):
    """tracing.enabled=false in the model-service values: vLLM exports nothing, the EPP still does."""
    epp = service_or_skip(platform, "epp")
    vllm = service_or_skip(platform, "vllm-decode")
    with platform.variant(tracing_overlay(platform, {"enabled": False}, ("modelservice",))):
        done = send_traced_by_every_hop(platform).completion
        expect_spans(platform, spans_around(platform, epp, done), [SpansExist(epp, "gateway.request")],
                     "EPP spans with vLLM's tracing off (positive control)")
        settle(platform, done)
        expect_now(spans_around(platform, vllm, done)(), [LlmRequestOf(vllm, done, present=False)],
                   context="vLLM tracing disabled in the values, yet vLLM exported the request's span",
                   logs_hint=platform.logs_hint(), diagnosis=platform.diagnosis())
