"""The diagnosis a failed trace assertion carries (llmd_trace_e2e.runtime.diagnose), in isolation:
log lines made short, a diagnosis consulted only where it is passed and only when a check
fails, a broken source reported instead of hiding the assertion."""
from __future__ import annotations

import pytest

from llmd_trace_e2e.runtime import diagnose
from llmd_trace_e2e.traces.assertions import SpansExist, TraceAssertionError, expect, expect_now
from llmd_trace_e2e.traces.model import Span


def test_zap_console_and_json_lines_are_shortened():
    console = ('2026-11-25T14:24:49.452Z\tinfo\tinternal/retry_sender.go:136\tExporting failed. Will retry.\t'
               '{"resource": {"service.name": "otelcol"}, "error": "rpc error: code = Unavailable"}')
    assert diagnose.short_log_line(console) == \
        "2026-11-25T14:24:49.452Z info Exporting failed. Will retry.: rpc error: code = Unavailable"
    json_line = '{"level":"error","ts":0.5,"caller":"x.go:1","msg":"cannot list pods","error":"forbidden"}'
    assert diagnose.short_log_line(json_line) == "1970-01-01T00:00:00.500000Z error cannot list pods: forbidden"
    assert diagnose.short_log_line("plain " * 200) == ("plain " * 200).strip()[:diagnose.LINE_CHARS]


class Fixed:
    component = "fixed"

    def __init__(self, *found):
        self.found = list(found)

    def findings(self):
        return self.found


class Broken:
    component = "broken source"

    def findings(self):
        raise RuntimeError("cannot read the log")


class Counting(Fixed):
    def __init__(self, *found):
        super().__init__(*found)
        self.asked = 0

    def findings(self):
        self.asked += 1
        return super().findings()


def failed_verdict(**kwargs) -> str:
    with pytest.raises(TraceAssertionError) as info:
        expect(lambda: [], [SpansExist("svc", "span")], timeout_s=0.2, **kwargs)
    return str(info.value)


def test_a_diagnosis_counts_only_where_it_is_passed():
    source = Fixed(diagnose.Finding("epp", "is not running: killed by SIGKILL", ("last log line",)))
    assert diagnose.report(None) == ""
    assert diagnose.report(source) == "- epp: is not running: killed by SIGKILL\n    last log line"
    assert "diagnosis:\n- epp: is not running: killed by SIGKILL\n    last log line" in failed_verdict(diagnosis=source)
    assert "diagnosis:" not in failed_verdict()  # no module-level sources: nothing passed, nothing said
    with pytest.raises(TraceAssertionError) as info:
        expect_now([], [SpansExist("svc", "span")], diagnosis=source)
    assert "diagnosis:\n- epp: is not running" in str(info.value)


def test_a_diagnosis_is_asked_only_when_a_check_fails():
    source = Counting(diagnose.Finding("epp", "restarted"))
    arrived = Span("1" * 32, "2" * 16, None, "svc", "span")
    expect(lambda: [arrived], [SpansExist("svc", "span")], timeout_s=1, diagnosis=source)
    assert source.asked == 0
    failed_verdict(diagnosis=source)
    assert source.asked == 1


def test_a_failing_source_is_a_finding_not_a_traceback():
    both = diagnose.Sources(Broken(), Fixed(diagnose.Finding("jaeger", "restarted at 12:00:00 UTC")))
    text = failed_verdict(diagnosis=both)
    assert "diagnosis:\n- broken source: could not be checked: RuntimeError: cannot read the log\n" \
           "- jaeger: restarted at 12:00:00 UTC" in text
    assert "diagnosis:\n- broken source: could not be checked" in failed_verdict(diagnosis=Broken())  # alone, too


def test_a_query_that_keeps_failing_is_named_in_the_verdict():
    def fetch():
        raise ConnectionError("Jaeger query at http://127.0.0.1:1 failed: Connection refused")

    with pytest.raises(TraceAssertionError) as info:
        expect(fetch, [SpansExist("svc", "span")], timeout_s=0.3)
    assert info.value.failures[0].check == "query the trace backend"
    assert "ConnectionError: Jaeger query at http://127.0.0.1:1 failed: Connection refused" in str(info.value)
