"""Phase `overhead`: what tracing costs vLLM. One vLLM per sampler setting (off, 0.01, 0.1, 1.0),
all started at once, hit directly (not through the EPP) with no traceparent so that each
server's own sampler decides, the same bursts in rotating order, round after round."""
from __future__ import annotations

import os
import shutil
import signal
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator, Sequence

from llmd_trace_e2e.traffic import completions as traffic
from llmd_trace_e2e.commands.bench.log import log
from llmd_trace_e2e.commands.bench.results import OverheadPhase, ServerResult
from llmd_trace_e2e.commands.bench.stats import median, percentile

SAMPLERS = ("off", "0.01", "0.1", "1.0")
VLLM_READY_S = 600.0  # four vLLMs starting at once on two cores
VLLM_RSS_GIB = 4.2  # one CPU vLLM with the tiny model, measured ~3.9 GiB RSS, plus margin


@dataclass
class Server:
    label: str
    service: str | None
    url: str
    latencies: list[float] = field(default_factory=list)
    bursts: list[float] = field(default_factory=list)  # requests per second of each burst
    busy_s: float = 0.0  # wall time of the measured bursts
    errors: int = 0
    sent: int = 0  # warm-up included: every request the server's sampler saw
    ready_s: float | None = None


def samplers_that_fit(available_gib: float) -> tuple[list[str], str | None]:
    """The sampler settings whose vLLMs fit in memory at once (at least two), and a note when
    that is not all of them."""
    labels = list(SAMPLERS)
    fit = int(available_gib // VLLM_RSS_GIB)
    if fit >= len(labels):
        return labels, None
    labels = labels[:max(2, fit)]
    return labels, (f"only {available_gib:.1f} GiB available: {len(labels)} vLLMs at once "
                    f"({', '.join(labels)}), not {len(SAMPLERS)}")


def sampler_values(profile, label: str) -> dict:
    from llmd_trace_e2e.platforms.local.launches import baseline_values
    from llmd_trace_e2e.deployment.values import deep_merge, nest

    path = profile.values_schema["modelservice"].path
    if label == "off":
        return deep_merge(baseline_values(profile), nest(path, {"enabled": False}))
    return deep_merge(baseline_values(profile), nest(path, {
        "sampling": {"samplerArg": label}, "serviceNames": {"vllmDecode": f"bench-vllm-sampler-{label}"}}))


def burst(server: Server, model: str, requests: int, concurrency: int, max_tokens: int) -> None:
    def one(_):
        try:
            return traffic.send(server.url, model, propagate=False, max_tokens=max_tokens, timeout_s=120).seconds
        except traffic.RequestFailed:
            return None

    t0 = time.monotonic()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, range(requests)))
    server.sent += requests
    wall = time.monotonic() - t0
    ok = [r for r in results if r is not None]
    server.errors += len(results) - len(ok)
    server.latencies += ok
    server.busy_s += wall
    server.bursts.append(len(ok) / wall if wall > 0 else 0.0)


def _signal_group(proc, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # each managed process leads its own session and process group
    except (ProcessLookupError, PermissionError):
        pass


@contextmanager
def _removed_at_exit(folder: Path) -> Iterator[None]:
    try:
        yield
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def tracing_overhead(run_dir: Path, labels: Sequence[str], load_budget_s: float, concurrency: int,
                     burst_size: int, max_tokens: int, max_rounds: int, pause_idle: bool = True) -> OverheadPhase:
    """Start one vLLM per sampler setting at once (plus collector and Jaeger), then send the same
    bursts to each in rotating order, round after round, so that slow drift in the machine hits
    all alike. With `pause_idle`, the servers not under load are stopped (SIGSTOP) meanwhile: four
    vLLMs (twelve processes) on two cores otherwise disturb each other's bursts, and a model
    server in production has its node to itself."""
    from llmd_trace_e2e.deployment.charts import localize, vllm_launch
    from llmd_trace_e2e.deployment.collector_config import repo_collector_config
    from llmd_trace_e2e.platforms.local.vllm import SERVED_MODEL, VllmServer, vllm_scratch_dir, vllm_spec
    from llmd_trace_e2e.platforms.local.pipeline import TracePipeline
    from llmd_trace_e2e.runtime.ports import free_ports
    from llmd_trace_e2e.runtime.procs import Supervisor
    from llmd_trace_e2e.deployment.profiles import load_profile

    profile = load_profile("local")
    scratch = vllm_scratch_dir()
    with _removed_at_exit(scratch), Supervisor(run_dir) as supervisor:  # the folder goes after vLLM stops
        pipeline = TracePipeline.start(supervisor, run_dir, repo_collector_config())
        endpoint = pipeline.collector.otlp_grpc_endpoint
        servers, procs = [], []
        t0, since = time.monotonic(), datetime.now(timezone.utc) - timedelta(seconds=5)
        for label, port in zip(labels, free_ports(len(labels))):
            launch = localize(vllm_launch(sampler_values(profile, label), profile), endpoint)
            proc = supervisor.start(vllm_spec(launch, port, scratch, name=f"vllm-sampler-{label}"))
            server = VllmServer(proc, port, launch)
            procs.append(server)
            servers.append(Server(label, launch.env.get("OTEL_SERVICE_NAME"), server.url))
        for server, proc in zip(servers, procs):
            proc.wait_ready(VLLM_READY_S)
            server.ready_s = round(time.monotonic() - t0, 1)
            log(f"  vLLM sampler={server.label} ready after {server.ready_s} s")
        started_all_s = time.monotonic() - t0
        for server in servers:  # warm-up, not measured: first requests pay one-off costs
            burst(server, SERVED_MODEL, concurrency, concurrency, max_tokens)
            server.latencies.clear()
            server.bursts.clear()
            server.busy_s = 0.0
        rounds, t_load = 0, time.monotonic()
        by_label = {s.label: p.proc for s, p in zip(servers, procs)}
        try:
            if pause_idle:
                for server in servers:
                    _signal_group(by_label[server.label], signal.SIGSTOP)
            while rounds < max_rounds and (rounds < 3 or time.monotonic() - t_load < load_budget_s):
                order = servers[rounds % len(servers):] + servers[:rounds % len(servers)]
                for server in order:
                    if pause_idle:
                        _signal_group(by_label[server.label], signal.SIGCONT)
                        time.sleep(0.2)  # let it catch up on what it missed while stopped (its span exports)
                    burst(server, SERVED_MODEL, burst_size, concurrency, max_tokens)
                    if pause_idle:
                        _signal_group(by_label[server.label], signal.SIGSTOP)
                rounds += 1
        finally:
            for proc in by_label.values():
                _signal_group(proc, signal.SIGCONT)
        load_s = time.monotonic() - t_load
        time.sleep(7)  # the traced servers' last batch (5 s) and the collector's (1 s)
        exported, traces = {}, pipeline.backend.client()
        for server in servers:
            if server.service:
                spans = traces.find_spans(server.service, since, operation="llm_request", limit=5000)
                exported[server.label] = sum(1 for s in spans if s.name == "llm_request")
    return OverheadPhase(rounds=rounds, concurrency=concurrency, burst=burst_size, max_tokens=max_tokens,
                         idle_servers_paused=pause_idle, load_seconds=round(load_s, 1),
                         all_started_s=round(started_all_s, 1), servers=server_results(servers, exported))


def server_results(servers: Sequence[Server], exported: dict[str, int]) -> list[ServerResult]:
    """Each server's figures, and its ratios against the server with tracing off."""
    off = next((s for s in servers if s.label == "off"), None)
    base_med = median(off.latencies) if off else None
    base_p95 = percentile(off.latencies, 95) if off else None
    base_tput = len(off.latencies) / off.busy_s if off and off.busy_s else None
    results = []
    for s in servers:
        med = median(s.latencies)
        p95 = percentile(s.latencies, 95)
        tput = len(s.latencies) / s.busy_s if s.busy_s else None  # pooled over every burst
        results.append(ServerResult(
            sampler=s.label, service=s.service, ready_s=s.ready_s, requests=len(s.latencies), errors=s.errors,
            latency_median_s=med, latency_p95_s=p95, throughput_rps=tput,
            latency_p90_s=percentile(s.latencies, 90), latency_p99_s=percentile(s.latencies, 99),
            latency_mean_s=statistics.fmean(s.latencies) if s.latencies else None,
            over_500ms=sum(1 for v in s.latencies if v > 0.5),
            burst_throughput_median_rps=median(s.bursts),
            latency_median_ratio=med / base_med if med and base_med else None,
            latency_p95_ratio=p95 / base_p95 if p95 and base_p95 else None,
            throughput_ratio=tput / base_tput if tput and base_tput else None,
            llm_request_spans_in_jaeger=exported.get(s.label), sent_total=s.sent))
    return results
