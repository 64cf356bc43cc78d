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

import re
import time

import pytest
import requests

from llmd_trace_e2e.traffic import completions as traffic
from llmd_trace_e2e.traffic.canaries import settle
from llmd_trace_e2e.traces.assertions import SpansExist
from llmd_trace_e2e.traces.request import request_spans_in_jaeger
from llmd_trace_e2e.runtime.waits import Pending, wait_for

from checks import LlmRequestOf, expect_gap, expect_spans, fails_its_tests, service_or_skip, spans_around

pytestmark = pytest.mark.guide("What Gets Traced")

ABORT_SETTLE_S = 5.0  # longer than the whole 400-token stream takes (2.2 s read to its end, 2 cores)
EPP_ON_CANCEL = {"status": "UNSET", "events": ()}  # what the GAIE EPP v1.5.0 exports for it
FINISHED = re.compile(r'^vllm:request_success_total\{[^}]*finished_reason="(?:stop|length)"[^}]*\} ([0-9.e+]+)$', re.M)
RUNNING = re.compile(r'^vllm:num_requests_running\{[^}]*\} ([0-9.e+]+)$', re.M)


ABANDON_ATTEMPTS = 3  # the close can reach vLLM after it generated the last token: then try again


@pytest.fixture(scope="module")
@fails_its_tests
def abandoned(platform):
    """The abandoned stream, and whether vLLM then finished it anyway (None: cannot tell here)."""
    for _ in range(ABANDON_ATTEMPTS):
        before = model_servers_metric(platform, FINISHED)
        done = traffic.send_and_abandon(platform.gateway_url, platform.model, after_chunks=3)
        if before is None:  # vLLM's queue cannot be seen from here: wait out the whole stream
            time.sleep(ABORT_SETTLE_S)
            return done, None
        wait_for("vLLM to let go of the abandoned stream (vllm:num_requests_running back to 0)",
                 lambda: model_servers_metric(platform, RUNNING) == 0 or Pending("still running"), ABORT_SETTLE_S)
        finished_anyway = model_servers_metric(platform, FINISHED) > before
        if not finished_anyway:
            break
    return done, finished_anyway


def model_servers_metric(platform, metric: re.Pattern) -> float | None:
    """The sum over every vLLM of the pool (the EPP picks one) of the samples `metric` matches in
    its /metrics: FINISHED counts requests that finished (stop or length; an aborted one is not
    among them), RUNNING those in progress. None: the platform cannot reach them."""
    servers = getattr(platform, "model_servers", None)
    if platform.name != "local" or not servers:
        return None
    texts = [requests.get(f"http://{address}/metrics", timeout=5).text for address in servers.values()]
    return sum(float(m.group(1)) for text in texts for m in metric.finditer(text))


@pytest.mark.checks("cancellation: the EPP exports an ended gateway.request for a stream the client abandons")
def test_the_epp_exports_its_span_for_an_abandoned_stream(platform, abandoned):
    epp = service_or_skip(platform, "epp")
    abandoned, _ = abandoned
    assert abandoned.response_id, "positive control: the stream answered chunks before the client left"
    spans = expect_spans(platform, lambda: request_spans_in_jaeger(platform.jaeger, abandoned),
                         [SpansExist(epp, "gateway.request")],
                         f"the EPP's gateway.request for the abandoned stream (trace {abandoned.traceparent.trace_id})")
    root = next(s for s in spans if s.service == epp and s.name == "gateway.request")
    print(f"EPP gateway.request for the abandoned stream: status {root.status}, events {list(root.events)}, "
          f"{root.duration_ms:.0f} ms (client left after {abandoned.seconds * 1000:.0f} ms)")
    seen = {"status": root.status, "events": tuple(root.events)}
    assert seen == EPP_ON_CANCEL, (f"the EPP's gateway.request for a cancelled stream now has {seen}, not "
                                   f"{EPP_ON_CANCEL}: update this test and its docstring (trace {root.trace_id})")


@pytest.mark.checks("cancellation: vLLM exports llm_request for a request aborted midway")
def test_vllm_exports_llm_request_for_an_abandoned_stream(request, platform, completions, abandoned):
    vllm = service_or_skip(platform, "vllm-decode")
    abandoned, finished_anyway = abandoned
    finished = completions["stream"]
    expect_spans(platform, spans_around(platform, vllm, finished), [LlmRequestOf(vllm, finished)],
                 "an llm_request for a stream read to its end (positive control)")
    assert not finished_anyway, (f"vLLM's request_success count rose {ABANDON_ATTEMPTS} times in a row (last: "
                                 f"{abandoned.response_id}): each stream finished before the client's close "
                                 "reached vLLM, so none was aborted")
    expect_gap(request, platform, "vllm-no-span-for-aborted-request")
    settle(platform, abandoned)
    spans = spans_around(platform, vllm, abandoned)()
    hits = [s for s in spans if s.service == vllm and s.name == "llm_request" and abandoned.is_request_of(s)]
    assert hits, (f"vLLM aborted {abandoned.response_id} (the client left after {abandoned.seconds:.2f} s) and "
                  f"exported no llm_request for it (logs: {platform.logs_hint()})")
    print(f"vLLM's llm_request for the aborted request: status {hits[0].status}, events {list(hits[0].events)}")
