"""Phase `latency`: how long a span takes from its response to being queryable in Jaeger, for
the EPP's gateway.request (Go SDK), vLLM's llm_request (Python SDK) and canaries that pass
through the collector alone."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Callable

from llmd_trace_e2e.traffic import completions as traffic
from llmd_trace_e2e.commands.bench.probe import response_end
from llmd_trace_e2e.commands.bench.results import LatencyPhase
from llmd_trace_e2e.commands.bench.stats import describe

CANARY_SERVICE = "llmd-trace-e2e-bench"


def collector_batch_timeout_s() -> float | None:
    """The batch timeout of the repo's collector config: the floor of every latency here."""
    from llmd_trace_e2e.deployment.collector_config import repo_collector_config

    body = repo_collector_config().body
    for name, cfg in (body.get("processors") or {}).items():
        if name == "batch" or name.startswith("batch/"):
            raw = str((cfg or {}).get("timeout", "200ms"))
            return float(raw[:-2]) / 1000 if raw.endswith("ms") else float(raw.rstrip("s"))
    return None


def visibility_latency(platform, epp: str, vllm: str, requests: int, interval_s: float,
                       poll_s: float = 0.1, settle_s: float = 15.0) -> LatencyPhase:
    """Send `requests` requests (no traceparent, so the EPP roots the trace) and as many canaries,
    paced, while polling Jaeger every `poll_s`; each span's latency is from its response (for a
    canary: its export returning) to the first poll that returned it."""
    from llmd_trace_e2e.traffic.canaries import Canary, send_canaries

    sent: list[traffic.Completion] = []
    canaries: list[tuple[str, float]] = []  # trace id, exported at
    errors: list[str] = []
    start = datetime.now(timezone.utc)

    def paced(action: Callable[[int], None]) -> Callable[[], None]:
        def loop():
            t0 = time.monotonic()
            for i in range(requests):
                time.sleep(max(0.0, t0 + i * interval_s - time.monotonic()))
                try:
                    action(i)
                except Exception as exc:  # noted, and the run goes on
                    errors.append(f"{type(exc).__name__}: {exc}")
        return loop

    def request(_):
        sent.append(traffic.send(platform.gateway_url, platform.model, propagate=False))

    def canary(i):
        ended = time.time()  # the span ends at once; its export is part of the latency
        [one] = send_canaries(platform.collector_otlp_grpc, [Canary("latency", f"bench canary {i}", {}, False)],
                              service=CANARY_SERVICE)
        canaries.append((one.trace_id, ended))

    threads = [threading.Thread(target=paced(request), daemon=True), threading.Thread(target=paced(canary), daemon=True)]
    for t in threads:
        t.start()
    first_seen: dict[tuple[str, str], float] = {}  # ("vllm", response id) | ("epp"|"canary", trace id) -> wall time
    trace_of: dict[str, str] = {}  # response id -> the trace its llm_request is in (the EPP's)
    polls, deadline = 0, time.monotonic() + requests * interval_s + settle_s + 30

    def all_seen() -> bool:
        return (not any(t.is_alive() for t in threads)
                and all(("vllm", c.response_id) in first_seen for c in sent)
                and all(("canary", tid) in first_seen for tid, _ in canaries)
                and all(("epp", tid) in first_seen for tid in trace_of.values()))

    while time.monotonic() < deadline and not all_seen():
        polls += 1
        now = time.time()
        since = start - timedelta(seconds=2)
        try:
            for span in platform.traces.find_spans(vllm, since, operation="llm_request"):
                for done in sent:
                    if done.is_request_of(span):
                        first_seen.setdefault(("vllm", done.response_id), now)
                        trace_of.setdefault(done.response_id, span.trace_id)
            for span in platform.traces.find_spans(epp, since, operation="gateway.request"):
                if span.name == "gateway.request":
                    first_seen.setdefault(("epp", span.trace_id), now)
            for span in platform.traces.find_spans(CANARY_SERVICE, since):
                first_seen.setdefault(("canary", span.trace_id), now)
        except Exception as exc:
            errors.append(f"poll: {type(exc).__name__}: {exc}")
        time.sleep(max(0.0, poll_s - (time.time() - now)))
    for t in threads:
        t.join(5)

    vllm_lat, epp_lat, canary_lat, missing = [], [], [], {"vllm": 0, "epp": 0, "canary": 0}
    for done in sent:
        seen = first_seen.get(("vllm", done.response_id))
        if seen is None:
            missing["vllm"] += 1
            continue
        vllm_lat.append(seen - response_end(done))
        epp_seen = first_seen.get(("epp", trace_of.get(done.response_id, "")))
        if epp_seen is None:
            missing["epp"] += 1
        else:
            epp_lat.append(epp_seen - response_end(done))
    for tid, exported in canaries:
        seen = first_seen.get(("canary", tid))
        if seen is None:
            missing["canary"] += 1
        else:
            canary_lat.append(seen - exported)
    return LatencyPhase(requests=len(sent), canaries=len(canaries), interval_s=interval_s, poll_s=poll_s,
                        polls=polls, missing=missing, errors=errors[:10], epp_gateway_request=describe(epp_lat),
                        vllm_llm_request=describe(vllm_lat), collector_only_canary=describe(canary_lat),
                        request_seconds=describe([c.seconds for c in sent]))
