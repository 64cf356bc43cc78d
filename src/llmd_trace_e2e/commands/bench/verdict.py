"""Phase `verdict`: how long until the suite's verdict, on a fresh stack and on a running one.

One verdict run is what `test_epp_trace_continues_into_vllm` does: a request through the
gateway, the joined EPP -> vLLM trace awaited in Jaeger, the report written (trace JSON,
waterfall, summary). A fresh verdict adds the tools and the stack's start; a running one adds
pytest's own start."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

from llmd_trace_e2e.traffic import completions as traffic
from llmd_trace_e2e.runtime.errors import HarnessError
from llmd_trace_e2e.runtime.paths import repo_root
from llmd_trace_e2e.runtime.waits import Pending, WaitStats, wait_for
from llmd_trace_e2e.commands.bench.log import log
from llmd_trace_e2e.commands.bench.probe import FirstTrue, response_end
from llmd_trace_e2e.commands.bench.results import MedianRun, ToolsTiming, VerdictPhase, VerdictRun

VERDICT_TIMEOUT_S = 60.0


def joined_trace(traces, done: traffic.Completion, epp: str, vllm: str):
    """The verdict the suite reaches for one request: vLLM's llm_request for this response sits
    in the EPP's trace, below its gateway.request (test_epp_trace_continues_into_vllm)."""
    from llmd_trace_e2e.traces.assertions import JoinedInOneTrace

    since = done.started - timedelta(seconds=5)

    def probe():
        mine = [s for s in traces.find_spans(vllm, since, operation="llm_request") if done.is_request_of(s)]
        if not mine:
            return Pending("no llm_request for the response yet")
        spans = traces.trace_spans(mine[0].trace_id)
        failures = JoinedInOneTrace(mine[0].trace_id, ((epp, "gateway.request"), (vllm, "llm_request")))(spans)
        return spans if not failures else Pending(f"{len(failures)} check(s) failing: {failures[0].actual}")

    return probe


def verdict_run(platform, label: str, folder: Path, epp: str, vllm: str, max_interval_s: float = 1.0) -> VerdictRun:
    from llmd_trace_e2e.report.summary import TestRecord, seen_by_service, write_summary
    from llmd_trace_e2e.report.waterfall import write_waterfall

    t0 = time.monotonic()
    done = traffic.send(platform.gateway_url, platform.model, propagate=False)
    first_request_s = time.monotonic() - t0
    probe = joined_trace(platform.traces, done, epp, vllm)
    oracle = FirstTrue(joined_trace(platform.traces.another_client(), done, epp, vllm))  # its own connection
    oracle.start()
    stats = WaitStats()
    t1 = time.monotonic()
    spans = wait_for(f"the joined EPP -> vLLM trace of response {done.response_id}", probe, VERDICT_TIMEOUT_S,
                     stats=stats, max_interval_s=max_interval_s)
    visible_s = time.monotonic() - t1
    held = oracle.stop() or time.time()  # not seen by the probe yet: the wait saw it first, no lag
    t2 = time.monotonic()
    trace_id = spans[0].trace_id
    out = folder / f"verdict-{label}"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"trace-{trace_id}.json").write_text(json.dumps(platform.traces.raw_trace(trace_id), indent=1))
    write_waterfall(spans, out, f"bench verdict ({label})")
    write_summary([TestRecord(f"bench::verdict[{label}]", "passed", visible_s, (trace_id,), seen_by_service(spans),
                              {epp: ("gateway.request",), vllm: ("llm_request",)}, out)],
                  out / "summary.md", github=False)
    report_s = time.monotonic() - t2
    return VerdictRun(label, first_request_s, visible_s, report_s, stats.polls,
                      None if held is None else max(0.0, held - response_end(done)), trace_id)


def time_tools() -> ToolsTiming:
    python = shutil.which("python3") or sys.executable
    t0 = time.monotonic()
    proc = subprocess.run([python, "scripts/build_tools.py"], cwd=repo_root(), capture_output=True, text=True)
    seconds = time.monotonic() - t0
    if proc.returncode != 0:
        raise HarnessError(f"scripts/build_tools.py failed (exit {proc.returncode}): "
                           + (proc.stderr or proc.stdout).strip()[-500:])
    return ToolsTiming(round(seconds, 2), proc.stdout.strip().splitlines()[-3:])


def time_pytest_start() -> float:
    """pytest's own start and collection of the e2e suite: what a re-run pays before its first test."""
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "pytest", "e2e", "--collect-only", "-q", "-p", "no:cacheprovider"],
                   cwd=repo_root(), capture_output=True, text=True)
    return round(time.monotonic() - t0, 2)


def verdict_phase(platform, folder: Path, epp: str, vllm: str, tools: ToolsTiming, stack_s: float,
                  warm_runs: int) -> VerdictPhase:
    """The cold run on the stack just started, then `warm_runs` more on the running stack."""
    runs = [verdict_run(platform, "cold", folder, epp, vllm)]
    log(f"  cold verdict: {asdict(runs[0])}")
    for i in range(warm_runs):
        runs.append(verdict_run(platform, f"warm-{i + 1}", folder, epp, vllm))
        log(f"  warm verdict {i + 1}: visible after {runs[-1].spans_visible_s:.2f} s")
    pytest_s = time_pytest_start()
    warm = MedianRun.of(runs[1:] or runs)
    fresh_total = tools.seconds + stack_s + runs[0].total_s
    return VerdictPhase(tools, dict(platform.timings), round(stack_s, 2), runs, warm, pytest_s,
                        round(fresh_total, 2), round(warm.running_total_s(pytest_s), 2))
