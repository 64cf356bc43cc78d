"""`llmd-trace-e2e bench`: what the harness costs and what tracing costs, measured on the local
platform in one bounded run. Not a pass/fail test: it prints tables, writes them as markdown and
JSON under <artifacts>/bench/<timestamp>/, and says which of the issue's targets hold here.

Phases, in order (each narrated on stderr):
  verdict     tools ready (scripts/build_tools.py), the stack ready per component, first request,
              spans visible in Jaeger, report written: on a fresh stack ("cold") and again on the
              running stack ("warm", what a re-run against a kept stack would pay)
  latency     span visibility latency, response -> queryable in Jaeger, for >= 50 requests: the
              EPP's gateway.request (Go SDK), vLLM's llm_request (Python SDK, batched),
              and canary spans through the collector alone
  polling     the harness's own overhead: time its waits spent against the time the pipeline needed
              (an independent 50 ms probe says when each awaited condition first held)
  overhead    vLLM request latency and throughput with tracing off and at sampler 0.01, 0.1, 1.0:
              four vLLMs at once, hit directly, the same bursts interleaved round-robin
  speed       (only when asked: --phases speed) issue 14's numbers beside those measured before it:
              vLLM's start step by step (as now, and as before: no bytecode, no cache), fresh local
              verdicts, re-runs against a kept stack, optionally the whole make test, cold set-up
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from llmd_trace_e2e.runtime.errors import HarnessError

PHASES = ("verdict", "latency", "polling", "overhead", "speed")
DEFAULT_PHASES = ("verdict", "latency", "polling", "overhead")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmd-trace-e2e bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"), help="results go to ARTIFACTS/bench/<time>/")
    parser.add_argument("--requests", type=int, default=60, help="requests (and canaries) for the latency phase (>= 50)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between latency requests")
    parser.add_argument("--warm-runs", type=int, default=3, help="verdict runs on the running stack")
    parser.add_argument("--budget", type=float, default=900.0, help="seconds the whole bench may take (roughly)")
    parser.add_argument("--phases", nargs="+", choices=PHASES, default=list(DEFAULT_PHASES), metavar="PHASE",
                        help=f"which phases to run (default: {', '.join(DEFAULT_PHASES)}; also: speed)")
    parser.add_argument("--fresh-runs", type=int, default=1, help="speed phase: fresh local verdicts in a row")
    parser.add_argument("--kept-runs", type=int, default=1, help="speed phase: runs against a kept stack (0: none)")
    parser.add_argument("--make-test", action="store_true", help="speed phase: also time the whole make test")
    parser.add_argument("--skip-as-before", action="store_true",
                        help="speed phase: leave out the vLLM start as before (no bytecode, no cache: ~100 s)")
    parser.add_argument("--min-overhead-s", type=float, default=360.0,
                        help="skip the overhead phase when less of the budget is left")
    parser.add_argument("--load-s", type=float, default=150.0, help="seconds of measured load in the overhead phase")
    parser.add_argument("--max-rounds", type=int, default=60, help="at most this many rounds of bursts")
    parser.add_argument("--burst", type=int, default=24, help="requests per burst")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight within a burst")
    parser.add_argument("--max-tokens", type=int, default=16, help="tokens per completion in the overhead phase")
    parser.add_argument("--no-pause", action="store_true",
                        help="overhead phase: leave the idle vLLMs running while another is measured")
    parser.add_argument("--allow-busy", action="store_true",
                        help="run even though another vLLM runs on this machine (the numbers will be skewed)")
    return parser


def bench_main(argv: list[str] | None = None) -> int:
    from llmd_trace_e2e.commands.bench.machine import other_vllms
    from llmd_trace_e2e.commands.bench.render import render
    from llmd_trace_e2e.commands.bench.run import run_bench

    args = build_parser().parse_args(argv)
    if args.requests < 50:
        print("error: --requests must be at least 50 (the issue asks for >= 50 for a p95)", file=sys.stderr)
        return 2
    busy = other_vllms()
    if busy and not args.allow_busy:
        print(f"error: another vLLM runs on this machine (pids {', '.join(map(str, busy))}): wait for it to end, "
              "or pass --allow-busy and discount the numbers", file=sys.stderr)
        return 2
    try:
        result = run_bench(args)
    except HarnessError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    text = render(result)
    (result.folder / "bench.md").write_text(text, encoding="utf-8")
    (result.folder / "bench.json").write_text(json.dumps(result.as_dict(), indent=1, default=str), encoding="utf-8")
    print(text)
    print(f"written: {result.folder / 'bench.md'} and bench.json", file=sys.stderr)
    return 0
