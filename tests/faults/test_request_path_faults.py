"""Faults of the request path, through the real Envoy: the EPP dies, the EPP is too slow, the
model server is down (cheap stack: real EPP, real Envoy, FAKE model server), and vLLM is slower
than the route timeout (the session's real vLLM). Each answers in OpenAI's error shape naming
the component, within its timeout."""
from __future__ import annotations

import os
import signal
import time
from datetime import datetime, timedelta, timezone

import pytest

from llmd_trace_e2e.traffic import completions as traffic
from llmd_trace_e2e.deployment.gateway_values import GatewayTracing
from llmd_trace_e2e.platforms.local.envoy import GatewaySettings, start_envoy
from llmd_trace_e2e.runtime.ports import free_ports
from llmd_trace_e2e.runtime.procs import Supervisor
from llmd_trace_e2e.traces.assertions import SpansExist, TraceAssertionError, expect

from .conftest import EPP_MESSAGE_TIMEOUT_S

pytestmark = pytest.mark.integration
ARRIVE_S = 30.0
VERDICT_S = 3.0
DIAGNOSIS_S = 10.0
FAIL_FAST_S = 10.0  # a request to a dead EPP must fail this fast, not at the gateway's timeout


def failed_request(url: str, **kwargs) -> tuple[traffic.RequestFailed, traffic.TraceParent, float]:
    tp = traffic.TraceParent.new()
    start = time.monotonic()
    try:
        done = traffic.send(url, kwargs.pop("model", "fake"), traceparent=tp, timeout_s=60, **kwargs)
    except traffic.RequestFailed as err:
        took = time.monotonic() - start
        print(f"--- the request's error ({took:.1f}s) ---\n{err}")
        return err, tp, took
    pytest.fail(f"the request through {url} (trace {tp.trace_id}) was expected to fail, yet it answered "
                f"HTTP {done.status} in {done.seconds:.3f}s", pytrace=False)


def assert_names(err: traffic.RequestFailed, status: int, component: str, *phrases: str) -> None:
    error = err.error()
    assert err.status == status, f"expected HTTP {status}, got {err.status}: {err.body}"
    assert error.get("component") == component, f"expected the error to name {component}: {err.body}"
    for phrase in phrases:
        assert phrase in error.get("message", ""), f"expected {phrase!r} in the error message: {err.body}"


def test_epp_dies(routing_stack):
    """Requests fail at Envoy with a 500 naming the EPP, at once; the trace verdict for the
    failed request names the dead EPP."""
    stack = routing_stack
    client = stack.pipeline.client

    def epp_spans_since(moment):  # GAIE's EPP starts a trace of its own (gap epp-new-root-trace)
        return lambda: [s for s in client.find_spans(stack.epp_service, moment - timedelta(seconds=1))
                        if s.start_ns / 1e9 >= moment.timestamp()]

    ok = traffic.send(stack.gateway.url, "fake", timeout_s=ARRIVE_S)  # positive control
    expect(epp_spans_since(ok.started), [SpansExist(stack.epp_service, "gateway.request")],
           ARRIVE_S, context="the EPP's span for a request routed before the fault")

    stack.epp.proc.kill()
    sent_at = datetime.now(timezone.utc)
    err, tp, took = failed_request(stack.gateway.url)
    assert took < FAIL_FAST_S, f"the request took {took:.1f}s to fail"
    assert f"/v1/completions (trace {tp.trace_id}) answered HTTP 500" in str(err)
    assert_names(err, 500, "epp", f"ext_proc call to the EPP at {stack.epp.grpc_address} failed", "gRPC_error_14")

    start = time.monotonic()
    with pytest.raises(TraceAssertionError) as verdict:
        expect(epp_spans_since(sent_at), [SpansExist(stack.epp_service, "gateway.request")],
               VERDICT_S, context=f"the EPP's span for the request that failed (trace {tp.trace_id})",
               diagnosis=stack.diagnosis)
    took = time.monotonic() - start
    text = str(verdict.value)
    print(f"--- the verdict ({took:.1f}s) ---\n{text}")
    assert took < VERDICT_S + DIAGNOSIS_S
    assert f"a span from {stack.epp_service} named 'gateway.request' | at least 1 | 0" in text
    assert "- epp: is not running: killed by SIGKILL" in text, text


def test_epp_too_slow(routing_stack):
    """An EPP that stops answering (SIGSTOP: it holds its connection but says nothing) fails the
    request naming the EPP once it has been silent for its budget. With bodies FULL_DUPLEX_STREAMED
    Envoy runs no per-message timer; its HTTP/2 pings to the EPP are what notice."""
    stack = routing_stack
    traffic.send(stack.gateway.url, "fake", timeout_s=ARRIVE_S)  # positive control: the route works
    os.kill(stack.epp.proc.pid, signal.SIGSTOP)
    try:
        err, _, took = failed_request(stack.gateway.url)
    finally:
        os.kill(stack.epp.proc.pid, signal.SIGCONT)
    assert took < EPP_MESSAGE_TIMEOUT_S + FAIL_FAST_S, f"the request took {took:.1f}s to fail"
    assert_names(err, 500, "epp", f"ext_proc call to the EPP at {stack.epp.grpc_address} failed", "connection_termination")


def test_model_server_down(routing_stack):
    """The endpoint the EPP picked refuses connections: a 503 naming the model server and its
    address, at once."""
    stack = routing_stack
    traffic.send(stack.gateway.url, "fake", timeout_s=ARRIVE_S)  # positive control
    stack.model_server.kill()
    err, _, took = failed_request(stack.gateway.url)
    assert took < FAIL_FAST_S, f"the request took {took:.1f}s to fail"
    assert_names(err, 503, "model-server", f"model server {stack.model_address} (picked by the EPP) cannot be reached")


# vLLM stalls: its process group is frozen (SIGSTOP) for the request, as a model server that stops
# making progress. A pause, not work: a long completion made vLLM slow once, but on two cores its
# decoding starved Envoy, which then read the whole answer before its route timer ran and passed
# it on (seen in a full run: HTTP 200 after 0.998 s, with a 0.251 s timeout). A frozen vLLM takes
# no CPU, so the timer fires on time. The EPP's answer keeps a 30 s budget: only vLLM is slow.
STALL_BUDGET_S = 1.0  # the route timeout of the test's own gateway


@pytest.mark.local_only
def test_vllm_slower_than_the_request_timeout(platform, tmp_path):
    """A request that vLLM does not answer within Envoy's route timeout fails with a 504 that
    names the request (path, trace id) and the component (the model server, its address), within
    that timeout; the same gateway answers while vLLM runs (the positive control)."""
    if platform.name != "local":
        pytest.skip(f"needs the local platform's processes; this run is on {platform.name}")
    vllm_address = f"127.0.0.1:{platform.vllm.port}"
    port, admin_port = free_ports(2)
    with Supervisor(tmp_path / "gateway") as supervisor:
        gateway = start_envoy(supervisor, GatewaySettings(
            port, admin_port, platform.epp.grpc_address, platform.collector_otlp_grpc, GatewayTracing(),
            route_timeout_s=STALL_BUDGET_S, message_timeout_s=30), tmp_path / "gateway", name="gateway-short-timeout")
        gateway.wait_ready(30)
        traffic.send(gateway.url, platform.model, max_tokens=1, timeout_s=30)  # the positive control
        os.killpg(platform.vllm.proc.pid, signal.SIGSTOP)
        try:
            err, tp, took = failed_request(gateway.url, model=platform.model)
        finally:
            os.killpg(platform.vllm.proc.pid, signal.SIGCONT)
    platform.vllm.wait_ready(30)  # the rest of the session's tests need it as it was
    assert took < STALL_BUDGET_S + FAIL_FAST_S, f"the request took {took:.1f}s to fail"
    assert f"/v1/completions (trace {tp.trace_id}) answered HTTP 504" in str(err)
    assert_names(err, 504, "model-server",
                 f"model server {vllm_address} (picked by the EPP) did not answer within the route timeout")
