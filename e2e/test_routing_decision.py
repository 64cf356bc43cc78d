"""The routing decision matches the server that answered: with two model servers in the pool,
the endpoint the EPP chose for a request (the x-gateway-destination-endpoint it set, as the
gateway's access log records it: endpoint=%UPSTREAM_HOST%) is the vLLM whose llm_request carries
that request (by its resource's k8s.pod.name, set from the Pod's name as in
config/values/two-endpoints.yaml). Costly on two cores, so a group of its own: `-m two_endpoints`
with those values (make e2e-two-endpoints, nightly); any other run skips it, saying so."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from llmd_trace_e2e.platforms.abilities import ModelServers, lacks
from llmd_trace_e2e.traffic import completions as traffic
from llmd_trace_e2e.runtime.waits import Pending, wait_for
from llmd_trace_e2e.traces.span_queries import SpansOf

from pytest_llmd_trace.suite import LlmRequestOf, fails_its_tests, service_or_skip

pytestmark = [pytest.mark.two_endpoints, pytest.mark.guide("What Gets Traced")]
ACCESS_LOG_WAIT_S = 10.0
REQUESTS = 12  # distinct prompts, so that prefix affinity does not pin them all to one server
POD_ATTRIBUTE = "k8s.pod.name"
VALUES = "config/values/two-endpoints.yaml"


def model_servers_or_skip(platform) -> dict[str, str]:
    if not isinstance(platform, ModelServers):
        pytest.skip(lacks(platform, ModelServers, "it does not name its model servers' addresses"))
    servers = platform.model_servers
    if len(servers) < 2:
        pytest.skip(f"the pool has {len(servers)} model server: run `pytest e2e -m two_endpoints --values {VALUES}` "
                    "(make e2e-two-endpoints)")
    return servers


def chosen_endpoint(platform, done) -> str:
    """The upstream the gateway sent the request to: its access-log line for the caller's
    traceparent (Envoy flushes its access log every second)."""
    log = Path(platform.artifacts) / "gateway.log"
    pattern = re.compile(rf"endpoint=(\S+) traceparent_in=\S*{done.traceparent.trace_id}")

    def logged():
        found = pattern.findall(log.read_text(errors="replace")) if log.exists() else []
        return found[-1] if found else Pending(f"no access-log line for trace {done.traceparent.trace_id} in {log}")

    return wait_for("the gateway's access-log line for the request", logged, ACCESS_LOG_WAIT_S)


@pytest.fixture(scope="module")
@fails_its_tests
def routed(platform):
    servers = model_servers_or_skip(platform)
    vllm = service_or_skip(platform, "vllm-decode")
    sent = [traffic.send(platform.gateway_url, platform.model, extra={"prompt": f"Request {i}: the trace of a request"})
            for i in range(REQUESTS)]
    return servers, vllm, sent


@pytest.mark.promise("routing: the EPP picks both model servers (positive control)")
def test_the_epp_spreads_requests_over_both_servers(platform, routed):
    """Positive control for the match below: a check that only ever sees one server cannot tell."""
    servers, _, sent = routed
    chosen = {chosen_endpoint(platform, done) for done in sent}
    assert len(chosen & set(servers.values())) >= 2, (
        f"over {len(sent)} requests the EPP chose only {sorted(chosen)} of {sorted(servers.values())}")


@pytest.mark.promise("routing: the endpoint the EPP chose is the vLLM whose llm_request carries the request")
def test_the_server_the_epp_chose_is_the_one_that_answered(platform, routed):
    servers, vllm, sent = routed
    by_address = {address: pod for pod, address in servers.items()}
    wrong = []
    for done in sent:
        spans = platform.expect_spans(SpansOf.around(vllm, done.started), [LlmRequestOf(vllm, done)],
                                      f"vLLM's llm_request for response {done.response_id}")
        span = next(s for s in spans if s.service == vllm and s.name == "llm_request" and done.is_request_of(s))
        endpoint = chosen_endpoint(platform, done)
        answered = span.resource.get(POD_ATTRIBUTE)
        assert answered in servers, (
            f"llm_request's resource has {POD_ATTRIBUTE}={answered!r}, not one of the pool's Pods {sorted(servers)}: "
            f"set it per model server as {VALUES} does")
        if by_address.get(endpoint) != answered:
            wrong.append(f"trace {done.traceparent.trace_id}: the EPP chose {endpoint} "
                         f"({by_address.get(endpoint)}), llm_request came from {answered} ({servers[answered]})")
    assert not wrong, "the routing decision and the server that answered disagree:\n  " + "\n  ".join(wrong)
