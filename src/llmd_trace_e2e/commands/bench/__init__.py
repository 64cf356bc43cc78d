"""`llmd-trace-e2e bench`: what the harness costs and what tracing costs, on the local platform.

One module per phase: verdict (time to verdict, fresh and on a running stack), latency (span
visibility), polling (the harness's own waits), overhead (tracing's cost to vLLM), and, when asked, speed
(issue 14's numbers beside those before it; startup: vLLM's start step by step). Around them:
cli (flags, the phases described, files written), run (the phases in order, one stack shared),
results (each phase's typed result; `as_dict()` is bench.json), render (bench.md), targets (which
of the issue's targets hold), stats, machine (what the numbers were measured on), probe (when a
condition first held), log (the narration on stderr).
"""
from llmd_trace_e2e.commands.bench.cli import bench_main

__all__ = ["bench_main"]
