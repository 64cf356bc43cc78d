"""The bench's phases in order: the three that need the local stack share one start of it,
then the overhead phase (its own vLLMs) if the budget and the memory allow."""
from __future__ import annotations

import argparse
import time
from datetime import datetime
from pathlib import Path

from llmd_trace_e2e.commands.bench.latency import collector_batch_timeout_s, visibility_latency
from llmd_trace_e2e.commands.bench.log import log
from llmd_trace_e2e.commands.bench.machine import available_gib, load_average, machine, other_vllms
from llmd_trace_e2e.commands.bench.overhead import samplers_that_fit, tracing_overhead
from llmd_trace_e2e.commands.bench.polling import TIGHT_INTERVAL_S, polling_overhead
from llmd_trace_e2e.commands.bench.results import BenchResult
from llmd_trace_e2e.commands.bench.speed import speed_phase
from llmd_trace_e2e.commands.bench.targets import targets
from llmd_trace_e2e.commands.bench.verdict import time_tools, verdict_phase, verdict_run

STACK_PHASES = {"verdict", "latency", "polling"}


def with_stack(args: argparse.Namespace, result: BenchResult, folder: Path, phases: set[str]) -> None:
    """The phases that need the whole local stack: one start, measured, shared."""
    from llmd_trace_e2e.platforms.local.platform import LocalPlatform
    from llmd_trace_e2e.platforms.base import expected_service
    from llmd_trace_e2e.platforms.choose import RunOptions

    tools = None
    if "verdict" in phases:
        log("verdict: tools (scripts/build_tools.py)")
        tools = time_tools()
        log(f"  tools ready in {tools.seconds} s")
    log("starting the local stack (collector, Jaeger, kube-apiserver, EPP, gateway, vLLM)")
    t0 = time.monotonic()
    with LocalPlatform.running(RunOptions(artifacts=folder)) as platform:
        stack_s = time.monotonic() - t0
        log(f"  stack ready in {stack_s:.1f} s: {platform.timings}")
        epp = expected_service(platform.baseline, platform.profile, "epp")
        vllm = expected_service(platform.baseline, platform.profile, "vllm-decode")
        if tools is not None:
            result.verdict = verdict_phase(platform, folder, epp, vllm, tools, stack_s, args.warm_runs)
        if "latency" in phases:
            log(f"latency: {args.requests} requests and {args.requests} canaries, one each every {args.interval} s")
            result.latency = visibility_latency(platform, epp, vllm, args.requests, args.interval)
            for key in ("epp_gateway_request", "vllm_llm_request", "collector_only_canary"):
                log(f"  {key}: {getattr(result.latency, key).as_dict()}")
        if "polling" in phases:
            log("polling: barrier waits against an independent probe")
            result.polling = polling_overhead(platform)
            log(f"  needed {result.polling.needed.as_dict()}, lag {result.polling.lag.as_dict()}")
            log(f"polling: the same with the backoff capped at {TIGHT_INTERVAL_S} s instead of 1 s")
            tight = polling_overhead(platform, max_interval_s=TIGHT_INTERVAL_S)
            tight.verdicts = [verdict_run(platform, f"tight-{i + 1}", folder, epp, vllm, TIGHT_INTERVAL_S)
                              for i in range(args.warm_runs)]
            result.polling_tight = tight
            log(f"  lag {tight.lag.as_dict()}; verdict lags {[round(r.polling_lag_s or 0, 2) for r in tight.verdicts]}")
    log("stack stopped")


def overhead(args: argparse.Namespace, result: BenchResult, folder: Path, remaining_s: float) -> None:
    """The overhead phase, unless too little of the budget is left; as many vLLMs as fit in memory."""
    if remaining_s < args.min_overhead_s:
        result.notes.append(f"tracing overhead skipped: {remaining_s:.0f} s of the {args.budget:.0f} s budget left, "
                            f"it needs about {args.min_overhead_s:.0f} s")
        return
    labels, note = samplers_that_fit(available_gib())
    if note:
        result.notes.append(note)
    log(f"overhead: starting {len(labels)} vLLMs at once ({', '.join(labels)}); this takes minutes on 2 cores")
    load_budget = max(30.0, min(args.load_s, remaining_s - 60 - 300))
    result.overhead = tracing_overhead(folder / "overhead", labels, load_budget, args.concurrency, args.burst,
                                       args.max_tokens, args.max_rounds, pause_idle=not args.no_pause)
    for s in result.overhead.servers:
        log(f"  {s.sampler}: median {s.latency_median_s}, ratio {s.latency_median_ratio}, "
            f"throughput {s.throughput_rps}")


def run_bench(args: argparse.Namespace) -> BenchResult:
    started, t_start = datetime.now(), time.monotonic()
    folder = Path(args.artifacts).resolve() / "bench" / started.strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    deadline = t_start + args.budget
    result = BenchResult(started=started.isoformat(timespec="seconds"), folder=folder, machine=machine(),
                         collector_batch_timeout_s=collector_batch_timeout_s())
    log(f"machine: {result.machine}")
    log(f"results and logs: {folder}")

    phases = set(args.phases)
    if phases & STACK_PHASES:
        with_stack(args, result, folder, phases)
    busy = set(other_vllms())
    if "speed" in phases:
        result.speed = speed_phase(folder / "speed", args.fresh_runs, args.make_test, not args.skip_as_before,
                                   args.kept_runs)
        busy |= set(other_vllms())
    if "overhead" in phases:
        overhead(args, result, folder, deadline - time.monotonic())
        busy |= set(other_vllms())
    else:
        result.notes.append("tracing overhead not measured (not in --phases)")
    if busy:
        result.notes.append(f"another vLLM ran during the bench (pids {sorted(busy)}): the numbers are skewed")
    result.load_average_1m_at_end = load_average()
    result.wall_s = round(time.monotonic() - t_start, 1)
    result.targets = targets(result)
    return result
