"""Faults of the trace pipeline (collector, Jaeger), on the real processes: the verdict names
the spans that are missing and the cause, within its timeout, and never as a traceback."""
from __future__ import annotations

import time

import pytest

from llmd_trace_e2e.runtime.ports import free_port
from llmd_trace_e2e.runtime.procs import Supervisor
from llmd_trace_e2e.traces.assertions import SpansExist, TraceAssertionError, expect

from .conftest import FAULT_SERVICE, start_pipeline

pytestmark = pytest.mark.integration
ARRIVE_S = 20.0  # a span that should arrive does so in ~1 s (the collector's batch timeout)
VERDICT_S = 3.0  # how long a check that must fail is given
DIAGNOSIS_S = 10.0  # what explaining a failure may add (log scan, a few Jaeger queries)


def present(*sent: dict[str, str]) -> list[SpansExist]:
    return [SpansExist(FAULT_SERVICE, name) for batch in sent for name in batch]


def failing_verdict(stack, checks) -> tuple[TraceAssertionError, float]:
    """The verdict under the fault, with the stack's own diagnosis, as the suite gives it."""
    start = time.monotonic()
    with pytest.raises(TraceAssertionError) as info:
        expect(stack.fetch, checks, VERDICT_S, context="fault test: the verdict under the fault",
               diagnosis=stack.diagnosis)
    took = time.monotonic() - start
    print(f"--- the verdict ({took:.1f}s) ---\n{info.value}")  # shown with -rP: what a person would read
    assert took < VERDICT_S + DIAGNOSIS_S, f"the verdict took {took:.1f}s, past its {VERDICT_S:g}s timeout"
    return info.value, took


def missing_row(name: str) -> str:
    return f"| a span from {FAULT_SERVICE} named {name!r} | at least 1 | 0"


def test_collector_killed_then_restarted(pipeline_stack):
    """Spans sent while the collector is down are reported missing by name, the diagnosis says
    it was killed and restarted, and spans sent after the restart arrive again."""
    stack = pipeline_stack
    before = stack.send("before-outage")
    expect(stack.fetch, present(before), ARRIVE_S)

    stack.collector.proc.kill()
    during = stack.send("during-outage-1", "during-outage-2")
    stack.collector.restart()
    after = stack.send("after-restart")
    expect(stack.fetch, present(after), ARRIVE_S)  # the suite recovers

    error, _ = failing_verdict(stack, present(before, during, after))
    text = str(error)
    for name in during:
        assert missing_row(name) in text, text
    assert [f.check for f in error.failures] == [f"a span from {FAULT_SERVICE} named {n!r}" for n in during]
    assert "- collector: restarted (previous process: killed by SIGKILL)" in text, text
    assert f"{FAULT_SERVICE}: 2 span(s): after-restart, before-outage" in text  # what did arrive


def test_jaeger_restart_reports_the_spans_it_lost(pipeline_stack):
    """Jaeger keeps spans in memory: after a crash and restart, the verdict lists the spans the
    harness had read before and that are gone now, not a traceback; new spans arrive again."""
    stack = pipeline_stack
    stored = stack.send("stored-then-lost-1", "stored-then-lost-2")
    expect(stack.fetch, present(stored), ARRIVE_S)

    stack.jaeger.proc.kill()
    stack.jaeger.restart()

    error, _ = failing_verdict(stack, present(stored))
    text = str(error)
    assert "- jaeger: restarted (previous process: killed by SIGKILL)" in text, text
    assert "- jaeger: 2 span(s) the harness had already read from Jaeger are gone" in text, text
    for name, trace_id in stored.items():
        assert f"{FAULT_SERVICE}:{name} (trace {trace_id})" in text
        assert missing_row(name) in text
    assert "Traceback" not in text

    fresh = stack.send("after-jaeger-restart")
    expect(stack.fetch, present(fresh), ARRIVE_S)


def test_jaeger_down_is_a_verdict_not_a_traceback(pipeline_stack):
    """While Jaeger is down every query fails: the verdict says so and names the dead process."""
    stack = pipeline_stack
    sent = stack.send("sent-while-jaeger-down")
    stack.jaeger.proc.kill()

    error, _ = failing_verdict(stack, present(sent))
    text = str(error)
    assert error.failures[0].check == "query the trace backend"
    assert f"JaegerQueryError: Jaeger query at {stack.client.base_url}" in text, text
    assert "- jaeger: is not running: killed by SIGKILL" in text, text
    assert "Traceback" not in text


def test_exporter_pointing_at_a_wrong_port(tmp_path):
    """The collector receives the spans but exports to a port where nothing listens: the
    verdict says they never reached Jaeger and quotes the collector's own export errors."""
    wrong = f"127.0.0.1:{free_port()}"
    folder = tmp_path / "run"
    with Supervisor(folder) as supervisor:
        stack = start_pipeline(supervisor, folder, exporter_to=wrong)
        sent = stack.send("never-exported")
        error, _ = failing_verdict(stack, present(sent))
        received = {s.name for s in stack.collector.tap_spans()}

    text = str(error)
    assert "never-exported" in received  # the positive control: the collector did get it
    assert missing_row("never-exported") in text
    assert f"- collector: spans never reached Jaeger: the collector's exporter to {wrong} logged" in text, text
    assert "Exporting failed" in text and "connection refused" in text, text
    assert f"dial tcp {wrong}" in text
