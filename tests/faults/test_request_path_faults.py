"""Faults of the request path: the EPP dies (cheap stack: real EPP, gateway stand-in, FAKE
model server), and vLLM is slower than the request timeout (the session's real vLLM)."""
from __future__ import annotations

import sys
import time
from datetime import datetime, timedelta, timezone

import pytest

from llmd_trace_e2e import traffic
from llmd_trace_e2e.ports import free_port, is_listening
from llmd_trace_e2e.procs import ProcessSpec, Supervisor
from llmd_trace_e2e.traces.assertions import SpansExist, TraceAssertionError, expect
from llmd_trace_e2e.waits import Pending

pytestmark = pytest.mark.integration
ARRIVE_S = 30.0
VERDICT_S = 3.0
DIAGNOSIS_S = 10.0
FAIL_FAST_S = 10.0  # a request to a dead EPP must fail this fast, not at the gateway's timeout


def test_epp_dies(routing_stack):
    """Requests fail at the gateway with a 502 naming the EPP, at once; the trace verdict for
    the failed request names the dead EPP."""
    stack = routing_stack
    client = stack.pipeline.client

    def epp_spans_since(moment):  # GAIE's EPP starts a trace of its own (gap epp-new-root-trace)
        return lambda: client.find_spans(stack.epp_service, moment - timedelta(seconds=1))

    ok = traffic.send(stack.gateway.url, "fake", timeout_s=ARRIVE_S)  # positive control
    expect(epp_spans_since(ok.started), [SpansExist(stack.epp_service, "gateway.request")],
           ARRIVE_S, context="the EPP's span for a request routed before the fault")

    stack.epp.proc.kill()
    tp = traffic.TraceParent.new()
    sent_at = datetime.now(timezone.utc)
    start = time.monotonic()
    with pytest.raises(traffic.RequestFailed) as info:
        traffic.send(stack.gateway.url, "fake", traceparent=tp, timeout_s=60)
    took = time.monotonic() - start
    message = str(info.value)
    print(f"--- the request's error ({took:.1f}s) ---\n{message}")
    assert took < FAIL_FAST_S, f"the request took {took:.1f}s to fail"
    assert f"/v1/completions (trace {tp.trace_id}) answered HTTP 502" in message
    assert f"ext_proc call to EPP at {stack.epp.grpc_address} failed: UNAVAILABLE" in message
    assert '"component": "epp"' in message

    start = time.monotonic()
    with pytest.raises(TraceAssertionError) as verdict:
        expect(epp_spans_since(sent_at), [SpansExist(stack.epp_service, "gateway.request")],
               VERDICT_S, context=f"the EPP's span for the request that failed (trace {tp.trace_id})")
    took = time.monotonic() - start
    text = str(verdict.value)
    print(f"--- the verdict ({took:.1f}s) ---\n{text}")
    assert took < VERDICT_S + DIAGNOSIS_S
    assert f"a span from {stack.epp_service} named 'gateway.request' | at least 1 | 0" in text
    assert "- epp: is not running: killed by SIGKILL" in text, text


# vLLM is made slow by work, not by a pause: a long completion that may not stop early
# (`ignore_eos`, a vLLM sampling parameter). How long it takes depends on the machine (about 1 s
# for 480 tokens of the tiny model on two cores), so the gateway's budget for vLLM is a quarter
# of what the same request took straight to vLLM. The EPP's answer keeps a 30 s budget: only
# vLLM is slow here. (A short request is the positive control: the rest of the suite.)
LONG_REQUEST = {"max_tokens": 480, "extra": {"ignore_eos": True}}
BUDGET_SHARE = 0.25
MIN_DIRECT_S = 0.1  # below this, a quarter of it is too close to scheduling noise to mean "slow"


@pytest.mark.local_only
def test_vllm_slower_than_the_request_timeout(platform, tmp_path):
    """A request that keeps vLLM busy past the gateway's timeout fails with a 504 that names
    the request (path, trace id) and the component (vLLM, its address), within that timeout."""
    if platform.name != "local":
        pytest.skip(f"needs the local platform's processes; this run is on {platform.name}")
    vllm_address = f"127.0.0.1:{platform.vllm.port}"
    direct = traffic.send(f"http://{vllm_address}", platform.model, timeout_s=60, **LONG_REQUEST)
    assert direct.seconds >= MIN_DIRECT_S, (
        f"{LONG_REQUEST} took only {direct.seconds:.3f}s straight to vLLM: too fast to stand for a slow "
        f"model server; raise max_tokens in LONG_REQUEST")
    budget_s = round(direct.seconds * BUDGET_SHARE, 3)
    port = free_port()
    with Supervisor(tmp_path / "gateway") as supervisor:
        gateway = supervisor.start(ProcessSpec("gateway-short-timeout", [
            sys.executable, "-m", "llmd_trace_e2e.local.gateway", "--port", port,
            "--epp-address", platform.epp.grpc_address, "--request-timeout", 30,
            "--upstream-timeout", budget_s, "--endpoint-name", f"{vllm_address}=vllm-decode"]))
        gateway.wait_ready("port listens", lambda: is_listening(port) or Pending("port closed"), 30)
        url = f"http://127.0.0.1:{port}"

        tp = traffic.TraceParent.new()
        start = time.monotonic()
        with pytest.raises(traffic.RequestFailed) as info:
            traffic.send(url, platform.model, traceparent=tp, timeout_s=60, **LONG_REQUEST)
        took = time.monotonic() - start
    message = str(info.value)
    print(f"--- straight to vLLM: {direct.seconds:.3f}s; through a gateway giving vLLM {budget_s:g}s, "
          f"the request's error ({took:.1f}s) ---\n{message}")
    assert took < budget_s + FAIL_FAST_S, f"the request took {took:.1f}s to fail"
    assert f"/v1/completions (trace {tp.trace_id}) answered HTTP 504" in message
    assert (f"POST /v1/completions: vllm-decode (model server {vllm_address}, picked by the EPP) "
            f"did not answer within {budget_s:g}s") in message, message
    assert '"component": "vllm-decode"' in message
