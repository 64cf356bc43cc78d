"""Disabling tracing per component in the values (and a per-component service name): the
component falls silent while the others keep exporting.

Each variant restarts only the components whose launch it changes. An absence is asserted
only after a positive control in the same variant arrived and `settle` proved the pipeline has
delivered everything (the slowest exporter's batch delay, then a barrier through the collector)."""
from __future__ import annotations

import pytest

from llmd_trace_e2e.platforms.base import expected_service
from llmd_trace_e2e.traces.assertions import NoSpansFrom, SpansExist
from llmd_trace_e2e.traces.span_queries import SpansOf
from llmd_trace_e2e.deployment.values import deep_merge

from pytest_llmd_trace.suite import LlmRequestOf, send_traced_by_every_hop, service_or_skip, tracing_overlay

pytestmark = [pytest.mark.variant, pytest.mark.guide("Disabling Tracing")]


def test_epp_tracing_off_and_vllm_renamed(platform):
    """inferenceExtension.tracing.enabled=false: no EPP spans; serviceNames.vllmDecode renames vLLM."""
    old_epp = service_or_skip(platform, "epp")
    service_or_skip(platform, "vllm-decode")  # its spans are the positive control
    overlay = deep_merge(tracing_overlay(platform, {"enabled": False}, ("epp",)),
                         tracing_overlay(platform, {"serviceNames": {"vllmDecode": "vllm-decode-renamed"}},
                                         ("modelservice",)))
    platform.apply_variant(overlay)
    assert expected_service(platform.values, platform.profile, "vllm-decode") == "vllm-decode-renamed"
    done = send_traced_by_every_hop(platform).completion
    platform.expect_spans(SpansOf.around("vllm-decode-renamed", done.started),
                          [SpansExist("vllm-decode-renamed", "llm_request")],
                          "vLLM spans under the serviceNames override (positive control)")
    platform.settle(done)
    platform.expect_spans_now(SpansOf.around(old_epp, done.started), [NoSpansFrom(old_epp)],
                              "EPP tracing disabled in the values, yet EPP spans arrived")


def test_vllm_tracing_off(platform):
    """tracing.enabled=false in the model-service values: vLLM exports nothing, the EPP still does."""
    epp = service_or_skip(platform, "epp")
    vllm = service_or_skip(platform, "vllm-decode")
    platform.apply_variant(tracing_overlay(platform, {"enabled": False}, ("modelservice",)))
    done = send_traced_by_every_hop(platform).completion
    platform.expect_spans(SpansOf.around(epp, done.started), [SpansExist(epp, "gateway.request")],
                          "EPP spans with vLLM's tracing off (positive control)")
    platform.settle(done)
    platform.expect_spans_now(SpansOf.around(vllm, done.started), [LlmRequestOf(vllm, done, present=False)],
                              "vLLM tracing disabled in the values, yet vLLM exported the request's span")
