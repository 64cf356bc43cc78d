"""vLLM's span exporter sends where nothing listens (the values' tracing.otlpEndpoint names a port
that refuses connections): a whole local run of e2e/test_request_path.py, started as a person
starts it, finds that once from its first request, fails each test that needs vLLM's spans with
that one reason (naming vLLM's exporter and where it sends), and still runs and reports the tests
that need only the EPP's. The reason is said once at the top of the terminal's summary and of
summary.md. (How long such a run takes is measured by hand, not asserted: see the README.)"""
from __future__ import annotations

import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter

import pytest
import yaml

from llmd_trace_e2e.runtime.paths import repo_root
from llmd_trace_e2e.deployment.profiles import load_profile
from llmd_trace_e2e.deployment.values import nest

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.local_only]
RUN_TIMEOUT_S = 480  # a whole local start (vLLM: up to 300 s on a loaded machine) and the file's tests
SUITE = "e2e/test_request_path.py"


def outcomes(junit) -> dict[str, tuple[str, str]]:
    """test name -> (outcome, message) from a JUnit XML report."""
    out = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        verdict = next((child for child in case if child.tag in ("failure", "error", "skipped")), None)
        # the element's text is the whole report; its `message` attribute is cut at some length
        message = (verdict.text or verdict.get("message") or "").strip() if verdict is not None else ""
        out[case.get("name")] = ("passed", "") if verdict is None else (verdict.tag, message)
    return out


def test_a_silent_vllm_fails_only_the_tests_that_need_its_spans(tmp_path):
    refusing = socket.socket()  # bound, never listening: a connection to it is refused
    refusing.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{refusing.getsockname()[1]}"
    profile = load_profile("local")
    values = tmp_path / "vllm-exports-nowhere.yaml"
    values.write_text(yaml.safe_dump(nest(profile.values_schema["modelservice"].path, {"otlpEndpoint": dead})))
    artifacts, junit = tmp_path / "artifacts", tmp_path / "junit.xml"
    try:
        run = subprocess.run([sys.executable, "-m", "pytest", SUITE, "--platform", "local", "--values", str(values),
                              "--artifacts", str(artifacts), "--junitxml", str(junit), "-p", "no:cacheprovider"],
                             cwd=repo_root(), capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    finally:
        refusing.close()
    out = run.stdout + run.stderr
    print(out[-6000:])
    assert junit.exists(), f"the run left no report (exit {run.returncode}):\n{out[-3000:]}"
    seen = outcomes(junit)
    assert run.returncode == 1 and "error" not in {verdict for verdict, _ in seen.values()}, seen

    # the proxy's tests skip first where no routing proxy runs: they need the proxy before vLLM
    needs_vllm = {name: found for name, found in seen.items() if ("vllm" in name or "into_vllm" in name
                  or name == "test_epp_vllm_and_caller_in_one_trace") and "proxy" not in name}
    epp_only = {name: found for name, found in seen.items() if name.startswith("test_component_exports_its_spans[epp-")}
    assert len(needs_vllm) == 8 and len(epp_only) == 3, seen
    reasons = Counter(message for _, message in needs_vllm.values())
    assert {verdict for verdict, _ in needs_vllm.values()} == {"failure"} and len(reasons) == 1, needs_vllm
    [reason] = reasons
    assert reason.startswith("vllm-decode exports nothing: its tracing is on (service vllm-decode)"), reason
    assert f"its exporter sends to {dead} (--otlp-traces-endpoint), where nothing listens" in reason, reason
    assert all(verdict == "passed" for verdict, _ in epp_only.values()), f"the EPP's tests did not report: {epp_only}"

    top = f"silent component vllm-decode: {reason}"
    assert out.count(top) == 1 and out.index(top) < out.index("short test summary info"), out[-6000:]
    summary = (artifacts / "summary.md").read_text()
    assert summary.count(top) == 1 and summary.index(top) < summary.index(" failed, "), summary
