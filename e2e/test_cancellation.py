"""Cancellation: a streamed completion the client abandons after a few chunks. What each
component exports for it, as observed (local platform, GAIE EPP v1.5.0, vLLM 0.32), asserted so
that a change says so:

- the EPP: its gateway.request, ended with the torn-down stream, status UNSET, no events (it does
  not mark a cancelled request as an error);
- vLLM: nothing. It exports llm_request only for a request that finishes; an aborted one leaves
  no span (known gap vllm-no-span-for-aborted-request, vllm PR 32162). The positive controls: the
  same kind of stream, read to its end, leaves an llm_request; and vLLM's count of finished
  requests (its /metrics) does not rise, so the request was aborted rather than finished before
  the client's close reached vLLM."""
from __future__ import annotations

import pytest

from llmd_trace_e2e.traces.assertions import SpansExist
from llmd_trace_e2e.traces.request import request_spans_in_jaeger
from llmd_trace_e2e.traces.span_queries import SpansOf

from pytest_llmd_trace.abandoned_streams import abandoned_the_epp_sampled
from pytest_llmd_trace.suite import LlmRequestOf, declare_known_gap, fails_its_tests, service_or_skip

pytestmark = pytest.mark.guide("What Gets Traced")

EPP_ON_CANCEL = {"status": "UNSET", "events": ()}  # what the GAIE EPP v1.5.0 exports for it
ABANDON_ATTEMPTS = 3  # the close can reach vLLM after it generated the last token: then try again


@pytest.fixture(scope="module")
@fails_its_tests
def abandoned(platform):
    """An abandoned stream the EPP sampled, at any sampler ratio, and whether vLLM then finished
    it anyway (None: cannot tell here)."""
    for _ in range(ABANDON_ATTEMPTS):
        found = abandoned_the_epp_sampled(platform).completion
        if not found.finished_anyway:
            break
    return found.completion, found.finished_anyway


@pytest.mark.promise("cancellation: the EPP exports an ended gateway.request for a stream the client abandons")
def test_the_epp_exports_its_span_for_an_abandoned_stream(platform, abandoned):
    epp = service_or_skip(platform, "epp")
    abandoned, _ = abandoned
    assert abandoned.response_id, "positive control: the stream answered chunks before the client left"
    spans = platform.expect_spans(lambda: request_spans_in_jaeger(platform.traces, abandoned),
                                  [SpansExist(epp, "gateway.request")],
                                  f"the EPP's gateway.request for the abandoned stream (trace {abandoned.traceparent.trace_id})")
    root = next(s for s in spans if s.service == epp and s.name == "gateway.request")
    print(f"EPP gateway.request for the abandoned stream: status {root.status}, events {list(root.events)}, "
          f"{root.duration_ms:.0f} ms (client left after {abandoned.seconds * 1000:.0f} ms)")
    seen = {"status": root.status, "events": tuple(root.events)}
    assert seen == EPP_ON_CANCEL, (f"the EPP's gateway.request for a cancelled stream now has {seen}, not "
                                   f"{EPP_ON_CANCEL}: update this test and its docstring (trace {root.trace_id})")


@pytest.mark.promise("cancellation: vLLM exports llm_request for a request aborted midway")
def test_vllm_exports_llm_request_for_an_abandoned_stream(request, platform, completions, abandoned):
    vllm = service_or_skip(platform, "vllm-decode")
    abandoned, finished_anyway = abandoned
    finished = completions["stream"]
    platform.expect_spans(SpansOf.around(vllm, finished.started), [LlmRequestOf(vllm, finished)],
                          "an llm_request for a stream read to its end (positive control)")
    assert not finished_anyway, (f"vLLM's request_success count rose {ABANDON_ATTEMPTS} times in a row (last: "
                                 f"{abandoned.response_id}): each stream finished before the client's close "
                                 "reached vLLM, so none was aborted")
    declare_known_gap(request, platform, "vllm-no-span-for-aborted-request")
    platform.settle(abandoned)
    spans = SpansOf.around(vllm, abandoned.started)()
    hits = [s for s in spans if s.service == vllm and s.name == "llm_request" and abandoned.is_request_of(s)]
    assert hits, (f"vLLM aborted {abandoned.response_id} (the client left after {abandoned.seconds:.2f} s) and "
                  f"exported no llm_request for it (logs: {platform.logs_hint()})")
    print(f"vLLM's llm_request for the aborted request: status {hits[0].status}, events {list(hits[0].events)}")
