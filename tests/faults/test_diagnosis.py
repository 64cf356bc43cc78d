"""The diagnosis a failed trace assertion carries (llmd_trace_e2e.diagnose), in isolation:
log lines made short, sources consulted only while registered, a broken source reported
instead of hiding the assertion."""
from __future__ import annotations

import pytest

from llmd_trace_e2e import diagnose
from llmd_trace_e2e.traces.assertions import SpansExist, TraceAssertionError, expect


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


def test_sources_count_only_while_registered():
    source = Fixed(diagnose.Finding("epp", "is not running: killed by SIGKILL", ("last log line",)))
    assert diagnose.report() == ""
    with diagnose.watching(source):
        assert diagnose.report() == "- epp: is not running: killed by SIGKILL\n    last log line"
    assert diagnose.report() == ""


def test_a_failing_source_is_a_finding_not_a_traceback():
    with diagnose.watching(Broken(), Fixed(diagnose.Finding("jaeger", "restarted at 12:00:00 UTC"))):
        with pytest.raises(TraceAssertionError) as info:
            expect(lambda: [], [SpansExist("svc", "span")], timeout_s=0.2)
    text = str(info.value)
    assert "diagnosis:\n- broken source: could not be checked: RuntimeError: cannot read the log\n" \
           "- jaeger: restarted at 12:00:00 UTC" in text


def test_a_query_that_keeps_failing_is_named_in_the_verdict():
    def fetch():
        raise ConnectionError("Jaeger query at http://127.0.0.1:1 failed: Connection refused")

    with pytest.raises(TraceAssertionError) as info:
        expect(fetch, [SpansExist("svc", "span")], timeout_s=0.3)
    assert info.value.failures[0].check == "query the trace backend"
    assert "ConnectionError: Jaeger query at http://127.0.0.1:1 failed: Connection refused" in str(info.value)
