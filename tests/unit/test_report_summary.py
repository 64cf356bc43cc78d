"""summary.md from plain values: verdicts, spans seen against expected, links, the job summary."""
from __future__ import annotations

from pathlib import Path

from llmd_trace_e2e.report.summary import (
    TestRecord, render_summary, seen_by_service, services_cell, write_summary)

from .spans import full_path


def records(tmp_path: Path) -> list[TestRecord]:
    folder = tmp_path / "local" / "run" / "tests" / "test_a"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "waterfall.html").write_text("<html></html>")
    seen = seen_by_service(full_path())
    return [
        TestRecord("e2e/test_x.py::test_a", "passed", 1.25, ("a" * 32,), seen,
                   {"llm-d-epp": ("gateway.request",), "vllm-decode": ("llm_request",)}, folder),
        TestRecord("e2e/test_x.py::test_b[epp-chat]", "failed", 30.0, ("b" * 32,), {"llm-d-epp": {"gateway.request": 2}},
                   {"llm-d-epp": ("gateway.request",), "vllm-decode": ("llm_request",)}, None,
                   "TraceAssertionError: vLLM's llm_request in the caller's trace\nsecond line"),
        TestRecord("e2e/test_x.py::test_c", "xfailed", 2.0, note="known gap | PR 1514"),
        TestRecord("e2e/test_x.py::test_d", "skipped", 0.0, note="kind only"),
    ]


def test_seen_counts_each_name_per_service():
    assert seen_by_service(full_path()) == {"llm-d-epp": {"gateway.request": 1, "pick_endpoints": 1},
                                           "routing-proxy": {"forward_request": 1},
                                           "vllm-decode": {"llm_request": 1}}


def test_services_cell_against_expected():
    cell = services_cell({"llm-d-epp": {"gateway.request": 2}, "canary": {"x": 1}},
                         {"llm-d-epp": ("gateway.request",), "vllm-decode": ("llm_request",), "other": ()})
    assert cell.split("<br>") == ["canary: 1", "llm-d-epp: 2 ✓", "other: 0 ✗ missing any",
                                  "vllm-decode: 0 ✗ missing llm_request"]
    assert services_cell({}, {}) == "-"


def test_summary_has_one_row_per_test_with_verdict_and_totals(tmp_path):
    text = render_summary(records(tmp_path), title="run", facts=[("platform", "local")], link_base=tmp_path)
    lines = text.splitlines()
    assert lines[0] == "# run"
    assert "**1 failed, 1 passed, 1 xfailed, 1 skipped** in 33.2 s" in text
    assert "- platform: local" in lines
    rows = [line for line in lines if line.startswith("| `e2e/")]
    assert len(rows) == 4
    a, b, c, d = rows
    assert "✅ pass" in a and "1.2 s" in a and "vllm-decode: 1 ✓" in a and f"`{'a' * 32}`" in a
    assert "[waterfall](local/run/tests/test_a/waterfall.html)" in a
    assert "❌ fail" in b and "vllm-decode: 0 ✗ missing llm_request" in b
    assert "TraceAssertionError: vLLM's llm_request in the caller's trace |" in b and "second line" not in b
    assert "known gap \\| PR 1514" in c  # a pipe in a cell is escaped
    assert "⏭️ skip" in d


def test_without_a_link_base_paths_are_plain(tmp_path):
    text = render_summary(records(tmp_path)[:1], link_base=None)
    assert f"`{tmp_path / 'local' / 'run' / 'tests' / 'test_a'}`" in text


def test_write_appends_to_the_github_job_summary(tmp_path, monkeypatch):
    job = tmp_path / "job.md"
    job.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(job))
    path = write_summary(records(tmp_path), tmp_path / "out" / "summary.md")
    assert path.read_text().startswith("# llm-d tracing e2e")
    assert "(../local/run/tests/test_a/)" in path.read_text()
    appended = job.read_text()
    assert appended.startswith("earlier step\n# llm-d tracing e2e") and "](../" not in appended
    write_summary(records(tmp_path), tmp_path / "copy.md", github=False)
    assert job.read_text() == appended


def test_no_github_summary_without_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert write_summary([], tmp_path / "summary.md").read_text().count("no tests") == 1


def test_a_test_without_traces_has_no_span_counts(tmp_path):
    record = TestRecord("e2e/test_m.py::test_filter", "passed", 0.4, (), {}, {"vllm-decode": ("llm_request",)})
    row = next(line for line in render_summary([record]).splitlines() if line.startswith("| `e2e/"))
    assert "missing" not in row and "| - |" in row
