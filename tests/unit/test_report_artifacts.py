"""A test's artifacts folder, from plain values: log slices, folder names, Completions found."""
from __future__ import annotations

from datetime import datetime, timezone

from llmd_trace_e2e.report.artifacts import LogMarks, completions_in, folder_name, slice_logs
from llmd_trace_e2e.traffic import Completion, TraceParent


def test_log_slice_is_what_was_written_between_the_marks(tmp_path):
    logs, out = tmp_path / "run", tmp_path / "out"
    logs.mkdir()
    (logs / "epp.log").write_text("before\n")
    (logs / "quiet.log").write_text("same\n")
    start = LogMarks.take(logs)
    with open(logs / "epp.log", "a") as fh:
        fh.write("during 1\nduring 2\n")
    (logs / "vllm-decode.log").write_text("new process\n")
    end = LogMarks.take(logs)
    with open(logs / "epp.log", "a") as fh:
        fh.write("after\n")
    written = slice_logs(logs, start, end, out)
    assert sorted(p.name for p in written) == ["epp.log", "vllm-decode.log"]
    assert (out / "epp.log").read_text() == "during 1\nduring 2\n"
    assert (out / "vllm-decode.log").read_text() == "new process\n"


def test_folder_name_is_one_safe_segment():
    assert folder_name("e2e/test_request_path.py::test_component_exports_its_spans[epp-completion]") == \
        "test_request_path.py__test_component_exports_its_spans_epp-completion"
    long = folder_name("e2e/test_x.py::test_y[" + "a" * 300 + "]")
    assert len(long) == 120 and "/" not in long
    assert long != folder_name("e2e/test_x.py::test_y[" + "a" * 299 + "b]")


def test_completions_found_among_fixture_values():
    done = Completion("completion", TraceParent.new(), 200, "cmpl-1", "hi", datetime.now(timezone.utc), 0.1)
    other = Completion("chat", TraceParent.new(), 200, "cmpl-2", "hi", datetime.now(timezone.utc), 0.1)
    assert completions_in([done, {"a": other, "b": 3}, [done], "text", None]) == [done, other, done]
