"""bench.md: one section per phase that ran, read from its typed result, then the targets."""
from __future__ import annotations

from typing import Sequence

from llmd_trace_e2e.traces.render import markdown_table
from llmd_trace_e2e.commands.bench.polling import TIGHT_INTERVAL_S
from llmd_trace_e2e.commands.bench.results import (
    BenchResult, LatencyPhase, Machine, OverheadPhase, PollingPhase, SpeedPhase, SuiteRun, VerdictPhase,
    VerdictRun)
from llmd_trace_e2e.commands.bench.startup import MARKS, steps
from llmd_trace_e2e.commands.bench.stats import Summary, fmt

LATENCY_ROWS = (("epp_gateway_request", "EPP gateway.request (Go SDK)"),
                ("vllm_llm_request", "vLLM llm_request (Python SDK, batched)"),
                ("collector_only_canary", "canary, collector + Jaeger only"))


def machine_section(m: Machine, started: str, wall_s: float) -> list[str]:
    return [f"# llmd-trace-e2e bench ({started})", "",
            f"Machine: {m.cores} cores ({m.cpu_model}), {m.memory_gib} GiB "
            f"({m.memory_available_gib} GiB available at start), kernel {m.kernel}, Python {m.python}, "
            f"Go {m.go}, vLLM {m.vllm}, load average {m.load_average_1m} at start. "
            f"Bench wall time {wall_s:.0f} s.", ""]


def verdict_section(v: VerdictPhase) -> list[str]:
    out = ["## Time to verdict", "",
           "Cold = the first stack this run starts and the first request through it (vLLM's first "
           "inference, the exporters' first connections); the machine's page cache and the tool and "
           "model caches are as earlier runs left them. Warm = the same check again on the running "
           "stack (what a re-run against a kept stack pays), median of the warm runs. Tools cold (a "
           "build from nothing) is not measured: it would wipe caches other runs share.", ""]
    rows = [("tools ready (scripts/build_tools.py, cached)", fmt(v.tools.seconds), "-")]
    for name, seconds in v.stack.items():
        rows.append((f"stack: {name} (since start)", fmt(seconds), "-"))
    rows.append(("stack ready (all)", fmt(v.stack_s), "already up"))
    cold, warm = v.runs[0], v.warm_median
    rows += [("pytest start + collection", "-", fmt(v.pytest_start_s)),
             ("first request (through the gateway)", fmt(cold.first_request_s), fmt(warm.first_request_s)),
             ("spans visible in Jaeger (response -> joined trace)", fmt(cold.spans_visible_s),
              fmt(warm.spans_visible_s)),
             ("report written (JSON, waterfall HTML+PNG, summary)", fmt(cold.report_s), fmt(warm.report_s)),
             ("**verdict**", f"**{fmt(v.fresh_total_s)}**", f"**{fmt(v.running_total_s)}**")]
    out += [markdown_table(("step", "cold (fresh stack)", "warm (running stack)"), rows), ""]
    out += ["Each verdict run: " + "; ".join(
        f"{r.label}: request {r.first_request_s:.2f} s, visible {r.spans_visible_s:.2f} s "
        f"({r.polls} polls), report {r.report_s:.2f} s" for r in v.runs), ""]
    return out


def latency_section(lat: LatencyPhase, batch_timeout_s: float | None) -> list[str]:
    out = ["## Span visibility latency", "",
           f"From the response (for a canary: its export returning) to the first poll that found the span; "
           f"{lat.requests} requests and {lat.canaries} canaries, one each every {lat.interval_s} s, "
           f"Jaeger polled every {lat.poll_s} s (so each figure is up to {lat.poll_s} s late). "
           f"Collector batch timeout {batch_timeout_s} s. "
           f"Not found: {lat.missing}.", ""]
    rows = []
    for key, what in LATENCY_ROWS:
        d: Summary = getattr(lat, key)
        rows.append((what, d.n, fmt(d.median), fmt(d.p95), fmt(d.max)))
    return out + [markdown_table(("span", "n", "median", "p95", "max"), rows), ""]


def polling_section(pol: PollingPhase, tight: PollingPhase | None, verdict: VerdictPhase | None) -> list[str]:
    out = ["## The harness's polling overhead", "",
           "Waits as the suite does them (wait_for: 50 ms first interval, doubling to 1 s), against an "
           "independent 50 ms probe of the same condition. Lag = time waited after the condition held.", ""]

    def canary_row(what: str, p: PollingPhase):
        return (what, fmt(p.needed.median), fmt(p.waited.median), fmt(p.lag.median), fmt(p.lag.max),
                f"{p.polls.median:.0f}")

    def verdict_rows(runs: Sequence[VerdictRun], cap: str = ""):
        return [(f"verdict wait ({r.label}{cap})", fmt(r.condition_held_after_s), fmt(r.spans_visible_s),
                 fmt(r.polling_lag_s), "-", str(r.polls)) for r in runs]

    rows = [canary_row("canary -> Jaeger (barrier)", pol)] + verdict_rows(verdict.runs if verdict else [])
    if tight:
        rows.append(canary_row(f"canary -> Jaeger, backoff capped at {TIGHT_INTERVAL_S} s", tight))
        rows += verdict_rows(tight.verdicts or [], f", cap {TIGHT_INTERVAL_S} s")
    return out + [markdown_table(("wait", "pipeline needed (median)", "harness waited (median)", "lag (median)",
                                  "lag (max)", "polls"), rows), ""]


def _ms(seconds: float | None) -> str:
    return fmt(seconds and seconds * 1000, "ms", 1)


def overhead_section(ovh: OverheadPhase) -> list[str]:
    out = ["## Tracing overhead on vLLM", "",
           f"{len(ovh.servers)} vLLMs started at once (all ready after {ovh.all_started_s} s), hit directly "
           f"(not through the EPP) with no traceparent, so each server's own sampler decides. "
           f"{ovh.rounds} rounds; each round sends each server a burst of {ovh.burst} completions "
           f"({ovh.max_tokens} tokens) at concurrency {ovh.concurrency}, the servers in rotating order"
           + ("; the servers not under load are paused (SIGSTOP) meanwhile. " if ovh.idle_servers_paused else ". ") +
           f"Load time {ovh.load_seconds} s. Throughput = requests / time inside bursts, pooled.", ""]
    rows = [(s.sampler, s.requests, _ms(s.latency_median_s), _ms(s.latency_p90_s), _ms(s.latency_p95_s),
             "-" if s.over_500ms is None else s.over_500ms, fmt(s.throughput_rps, "req/s", 1),
             fmt(s.latency_median_ratio, "", 3), fmt(s.latency_p95_ratio, "", 3), fmt(s.throughput_ratio, "", 3),
             "-" if s.llm_request_spans_in_jaeger is None else f"{s.llm_request_spans_in_jaeger}/{s.sent_total}")
            for s in ovh.servers]
    return out + [markdown_table(("sampler", "requests", "latency median", "p90", "p95", "> 500 ms", "throughput",
                                  "median / off", "p95 / off", "throughput / off",
                                  "llm_request spans / sent (with warm-up)"), rows), ""]


def _runs(runs: Sequence[SuiteRun]) -> str:
    return "; ".join(f"{fmt(r.wall_s)}" + ("" if r.exit_code == 0 else f" (exit {r.exit_code})") for r in runs) or "-"


def speed_section(sp: SpeedPhase) -> list[str]:
    b = sp.before
    out = ["## Before and now (issue 14: a verdict in half the time)", "",
           "Before: measured on this kind of machine before issue 14's changes. Now: measured in this run, "
           "each suite a pytest process as a developer starts it (set-up done), timed from outside.", ""]
    by_label = {r.label: r for r in sp.vllm_starts}
    now, old = by_label.get("now"), by_label.get("as before")
    whole = [sp.make_test] if sp.make_test else []
    rows = [("vLLM start, to /health", f"{b['vllm_start_s']} s",
             fmt(now.ready_s if now else None) + (f" ({fmt(old.ready_s)} started as before, now)" if old else "")),
            ("fresh local verdict (`pytest e2e -m \"not variant\"`)", fmt(b["fresh_verdict_s"]), _runs(sp.fresh)),
            ("re-run against a kept stack (`local up`, `--attach`)", fmt(b["kept_stack_s"]), _runs(sp.kept)),
            ("whole `make test`, set-up done", fmt(b["make_test_s"]), _runs(whole))]
    for step, seconds in sp.cold_setup_s.items():
        rows.append((f"cold set-up: {step}", fmt(b["cold_setup_s"].get(step)), fmt(seconds)))
    out += [markdown_table(("", "before", "now"), rows), ""]
    if sp.vllm_starts:
        cols = [r.label for r in sp.vllm_starts]
        table = {r.label: dict(steps(r)) for r in sp.vllm_starts}
        names = [name for name, _ in MARKS] + ["GET /health answers 200"]
        step_rows = [(name, *(fmt(table[c].get(name)) for c in cols)) for name in names]
        step_rows.append(("**ready**", *(f"**{fmt(r.ready_s)}**" for r in sp.vllm_starts)))
        out += ["vLLM alone, as the platform launches it, step by step (each line of its log stamped on arrival):", "",
                markdown_table(("step", *cols), step_rows), ""]
    if sp.fresh and sp.fresh[0].stack:
        out += ["The fresh verdict's stack, seconds from the platform's start to each component ready "
                f"({sp.fresh[0].outcome}):", "",
                markdown_table(("component", "ready after"), [(k, fmt(v)) for k, v in sp.fresh[0].stack.items()]), ""]
    return out + [f"- {note}" for note in sp.notes] + ([""] if sp.notes else [])


def render(result: BenchResult) -> str:
    out = machine_section(result.machine, result.started, result.wall_s)
    if result.verdict:
        out += verdict_section(result.verdict)
    if result.latency:
        out += latency_section(result.latency, result.collector_batch_timeout_s)
    if result.polling:
        out += polling_section(result.polling, result.polling_tight, result.verdict)
    if result.overhead:
        out += overhead_section(result.overhead)
    if result.speed:
        out += speed_section(result.speed)
    out += ["## Targets", "", markdown_table(("target", "measured", "holds"), result.targets), ""]
    out += [f"- {note}" for note in result.notes]
    return "\n".join(out) + "\n"
