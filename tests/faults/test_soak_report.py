"""The soak's report (`llmd-trace-e2e soak`): every failure of every run with its reason, read
from the runs' JUnit XML; a run without a report still counts, with its console's last lines."""
from __future__ import annotations

from pathlib import Path

import pytest

from llmd_trace_e2e.commands import soak
from llmd_trace_e2e.runtime.errors import ConfigError

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="4">
  <testcase classname="e2e.test_request_path" name="test_a[epp]" time="1.0"/>
  <testcase classname="e2e.test_request_path" name="test_b" time="1.0">
    <failure message="llmd_trace_e2e.traces.assertions.TraceAssertionError: vLLM's llm_request in the caller's trace&#10;more">trace...</failure>
  </testcase>
  <testcase classname="e2e.test_metrics_filter" name="test_c" time="1.0"><skipped message="gap"/></testcase>
  <testcase classname="e2e.conftest" name="test_d" time="0.0"><error message="">RequestFailed: /v1/completions timed out
second line</error></testcase>
</testsuite></testsuites>
"""


def test_junit_failures_and_their_first_lines(tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT)
    tests, passed, skipped, failures = soak.parse_junit(path)
    assert (tests, passed, skipped) == (4, 1, 1)
    assert failures == [
        soak.TestFailure("e2e.test_request_path::test_b", "failure",
                         "llmd_trace_e2e.traces.assertions.TraceAssertionError: vLLM's llm_request in the caller's trace"),
        soak.TestFailure("e2e.conftest::test_d", "error", "RequestFailed: /v1/completions timed out"),
    ]


def test_report_counts_runs_and_ranks_failing_tests(tmp_path):
    good = soak.RunResult(1, tmp_path / "run-1", 240.0, 0, tests=10, passed=9, skipped=1)
    bad = soak.RunResult(2, tmp_path / "run-2", 250.0, 1, tests=10, passed=9,
                         failures=[soak.TestFailure("e2e.x::test_b", "failure", "why it failed")])
    crashed = soak.RunResult(3, tmp_path / "run-3", 30.0, 3, crash="llmd-trace-e2e: vllm-decode failed to start")
    text = soak.report([good, bad, crashed], 4)
    assert text.splitlines()[0] == "soak: 1 of 3 run(s) passed (1 not run: interrupted)"
    assert "| 2 | e2e.x::test_b | failure | why it failed |" in text
    assert "| 3 | (the run) | crash | llmd-trace-e2e: vllm-decode failed to start |" in text
    assert "  1x (the run)" in text and "  1x e2e.x::test_b" in text


def test_soak_main_runs_each_in_its_own_folder_and_fails_on_any_failure(tmp_path, monkeypatch):
    seen = []

    def fake_run(number, folder, pytest_args, timeout_s):
        seen.append((number, folder, tuple(pytest_args)))
        return soak.RunResult(number, folder, 1.0, 0 if number == 1 else 1,
                              failures=[] if number == 1 else [soak.TestFailure("t", "failure", "flaked")])

    monkeypatch.setattr(soak, "run_once", fake_run)
    code = soak.soak_main(["--runs", "2", "--artifacts", str(tmp_path), "--", "-k", "request_path"])
    assert code == 1
    assert [n for n, _, _ in seen] == [1, 2]
    assert len({folder for _, folder, _ in seen}) == 2
    assert all(args == ("-k", "request_path") for _, _, args in seen)
    [written] = list(Path(tmp_path).glob("*/soak.md"))
    assert "soak: 1 of 2 run(s) passed" in written.read_text()


def test_soak_refuses_zero_runs(tmp_path):
    with pytest.raises(ConfigError, match="ask for at least one run"):
        soak.soak_main(["--runs", "0", "--artifacts", str(tmp_path)])


def test_a_run_that_crashed_is_explained_by_its_console():
    console = """
============================ no tests ran in 37.20s ============================
!!!!! _pytest.outcomes.Exit: llmd-trace-e2e: vllm-decode failed to start: exited with code 1 (log: x.log)
--- last lines of vllm-decode's log ---
  File "zmq/backend/cython/_zmq.py", line 1002, in zmq.backend.cython._zmq.Socket.bind
zmq.error.ZMQError: ipc path "/long/path" is longer than 107 characters !!!!!
"""
    assert soak.crash_reason(console) == ("llmd-trace-e2e: vllm-decode failed to start: exited with code 1 (log: x.log)"
                                          ' ... zmq.error.ZMQError: ipc path "/long/path" is longer than 107 characters')
    assert soak.crash_reason("") == "no output"
