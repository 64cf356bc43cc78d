"""Streams the client abandons after a few chunks, and what vLLM's /metrics says of them."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass

import requests

from llmd_trace_e2e.platforms.abilities import ModelServers
from llmd_trace_e2e.runtime.waits import Pending, wait_for
from llmd_trace_e2e.traffic import completions as traffic
from llmd_trace_e2e.traffic.completions import Completion
from llmd_trace_e2e.traffic.resend import Sampled

from pytest_llmd_trace.suite import resend_until_the_epp_samples

ABORT_SETTLE_S = 5.0  # longer than the whole 400-token stream takes (2.2 s read to its end, 2 cores)
FINISHED = re.compile(r'^vllm:request_success_total\{[^}]*finished_reason="(?:stop|length)"[^}]*\} ([0-9.e+]+)$', re.M)
RUNNING = re.compile(r'^vllm:num_requests_running\{[^}]*\} ([0-9.e+]+)$', re.M)


@dataclass(frozen=True)
class Abandoned:
    completion: Completion
    finished_anyway: bool | None  # vLLM finished it before the close reached it (None: cannot tell here)


def abandon_one(platform) -> Abandoned:
    """One stream abandoned after a few chunks, once vLLM has let go of it."""
    before = model_servers_metric(platform, FINISHED)
    done = traffic.send_and_abandon(platform.gateway_url, platform.model, after_chunks=3)
    if before is None:  # vLLM's queue cannot be seen from here: wait out the whole stream
        time.sleep(ABORT_SETTLE_S)
        return Abandoned(done, None)
    wait_for("vLLM to let go of the abandoned stream (vllm:num_requests_running back to 0)",
             lambda: model_servers_metric(platform, RUNNING) == 0 or Pending("still running"), ABORT_SETTLE_S)
    return Abandoned(done, model_servers_metric(platform, FINISHED) > before)


def model_servers_metric(platform, metric: re.Pattern) -> float | None:
    """The sum over every vLLM of the pool (the EPP picks one) of the samples `metric` matches in
    its /metrics: FINISHED counts requests that finished (stop or length; an aborted one is not
    among them), RUNNING those in progress. None: the platform cannot reach them."""
    if not isinstance(platform, ModelServers) or not platform.model_servers:
        return None
    texts = [requests.get(f"http://{address}/metrics", timeout=5).text for address in platform.model_servers.values()]
    return sum(float(m.group(1)) for text in texts for m in metric.finditer(text))


def abandoned_the_epp_sampled(platform) -> Sampled[Abandoned]:
    """An abandoned stream whose gateway.request the EPP sampled: at a sampler ratio below 1,
    streams are abandoned until the EPP's root span shows one."""
    return resend_until_the_epp_samples(platform, lambda: abandon_one(platform), propagate=True,
                                        completion_of=lambda a: a.completion)
