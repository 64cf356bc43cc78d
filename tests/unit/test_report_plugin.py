"""The reporting plugin's glue, run by pytester against a stand-in platform (no processes): each
test's folder, the JUnit trace_id properties and summary.md."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from llmd_trace_e2e.runtime.paths import cache_dir

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _real_caches(monkeypatch):
    """pytester moves HOME; the plugin's start-up check still finds the vLLM venv and model."""
    monkeypatch.setenv("LLMD_TRACE_E2E_CACHE", str(cache_dir()))

CONFTEST = '''
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from llmd_trace_e2e.platforms.local.launches import baseline_values
from llmd_trace_e2e.deployment.profiles import load_profile

TRACE = "ab" * 16
EPP = "gateway-api-inference-extension/epp"


def otlp(spans):
    return {"result": {"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": svc}}]}, "scopeSpans": [{"spans": [
        {"traceId": TRACE, "spanId": sid, "parentSpanId": parent, "name": name, "kind": 2,
         "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + 5_000_000)}]}]}
        for svc, name, sid, parent, start in spans]}}


class FakeJaeger:
    def raw_trace(self, trace_id):
        if trace_id != TRACE:
            return None
        return otlp([("vllm-decode", "llm_request", "1" * 16, "2" * 16, 1_000_000_000),
                     (EPP, "gateway.request", "3" * 16, "", 1_000_000_000)])

    def trace_spans(self, trace_id):
        from llmd_trace_e2e.traces.model import spans_from_otlp_json
        raw = self.raw_trace(trace_id)
        return spans_from_otlp_json(raw["result"]) if raw else []

    def find_spans(self, service, since, until=None, operation=None, limit=1000):
        return []


@pytest.fixture(scope="session")
def platform():
    profile = load_profile("local")
    run = Path.cwd() / "run"
    run.mkdir()
    (run / "epp.log").write_text("before the tests\\n")
    values = baseline_values(profile)
    return SimpleNamespace(name="fake", profile=profile, baseline=values, values=values, artifacts=run,
                           traces=FakeJaeger(), timings={"vllm ready": 1.0}, export_batch_delay_s=0.0,
                           silent={"vllm-decode": "vllm-decode exports nothing: its exporter sends to "
                                                  "http://127.0.0.1:9, where nothing listens"})


@pytest.fixture
def old_completion():
    from llmd_trace_e2e.traffic.completions import Completion, TraceParent
    return Completion("completion", TraceParent(TRACE, "2" * 16), 200, "cmpl-1", "",
                      datetime.now(timezone.utc) - timedelta(minutes=5), 0.1)
'''

TESTS = '''
import pytest

from llmd_trace_e2e.traffic import completions as traffic
from llmd_trace_e2e.traces.assertions import TraceAssertionError
from llmd_trace_e2e.traces.model import Span


def test_sends(platform, old_completion):
    for observe in traffic.observers:  # what traffic.send does with every Completion
        observe(old_completion)
    with open(platform.artifacts / "epp.log", "a") as fh:
        fh.write("during the test\\n")


def test_fails(platform):
    seen = [Span("cd" * 16, "4" * 16, "5" * 16, "vllm-decode", "llm_request", "SERVER", {}, 0, 1)]
    raise TraceAssertionError("the caller's trace\\nmore", [], seen)


def test_skips(platform):
    pytest.skip("not here")


def test_without_platform():
    pass
'''


def test_every_platform_test_leaves_its_folder_properties_and_a_summary(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=TESTS)
    artifacts = pytester.path / "artifacts"
    result = pytester.runpytest("-p", "pytest_llmd_trace.plugin", "--artifacts", str(artifacts), "--junitxml", "junit.xml")
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*trace reports*", f"summary: {artifacts}/summary.md"])

    sends = pytester.path / "run" / "tests" / "test_suite.py__test_sends"
    assert (sends / f"trace-{'ab' * 16}.json").exists()
    assert {p.name for p in sends.iterdir()} >= {"waterfall.html", "waterfall.png", "test.json", "logs"}
    assert (sends / "logs" / "epp.log").read_text() == "during the test\n"
    meta = json.loads((sends / "test.json").read_text())
    assert meta["outcome"] == "passed" and meta["spans_seen"]["vllm-decode"] == {"llm_request": 1}

    fails = sends.parent / "test_suite.py__test_fails"
    assert (fails / "at-failure.png").exists() and (fails / "waterfall.html").exists()
    assert not (sends.parent / "test_suite.py__test_skips").exists()
    assert not (sends.parent / "test_suite.py__test_without_platform").exists()

    props = {case.get("name"): [(p.get("name"), p.get("value")) for p in case.iter("property")]
             for case in ET.parse(pytester.path / "junit.xml").getroot().iter("testcase")}
    assert ("trace_id", "ab" * 16) in props["test_sends"]
    assert ("trace_id", "cd" * 16) in props["test_fails"]
    assert props["test_without_platform"] == []

    silent = "silent component vllm-decode: vllm-decode exports nothing: its exporter sends to http://127.0.0.1:9"
    out = result.stdout.str()
    assert out.count(silent) == 1, out  # said once, at the top: before pytest's failures
    assert out.index(silent) < out.index("= FAILURES =") < out.index("short test summary info"), out

    summary = (artifacts / "summary.md").read_text()
    assert summary.count(silent) == 1 and summary.index(silent) < summary.index("**1 failed"), summary
    assert "**1 failed, 1 passed, 1 skipped**" in summary  # platform tests only
    assert "TraceAssertionError: the caller's trace |" in summary
    assert "vllm-decode: 1 ✓" in summary and "test_without_platform" not in summary
    assert (pytester.path / "run" / "summary.md").exists()  # a copy in the run's folder


def test_a_platform_that_does_not_start_still_leaves_a_summary(pytester):
    pytester.makeconftest('''
import pytest

@pytest.fixture(scope="session")
def platform():
    pytest.exit("llmd-trace-e2e: vllm-decode failed to start: exited with code 1 (log: x.log)\\ntail", returncode=3)
''')
    pytester.makepyfile(test_suite="def test_a(platform):\n    pass\n")
    artifacts = pytester.path / "artifacts"
    result = pytester.runpytest("-p", "pytest_llmd_trace.plugin", "--artifacts", str(artifacts))
    assert result.ret == 3
    summary = (artifacts / "summary.md").read_text()
    assert "the platform did not start: llmd-trace-e2e: vllm-decode failed to start" in summary
