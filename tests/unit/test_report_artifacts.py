"""A test's artifacts folder, from plain values: log slices, folder names, Completions found."""
from __future__ import annotations

from datetime import datetime, timezone

from llmd_trace_e2e.report.artifacts import LogMarks, completions_in, folder_name, slice_logs
from llmd_trace_e2e.traffic.completions import Completion, TraceParent


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


def test_a_test_parametrized_by_a_key_gets_that_completion_only():
    kinds = {k: Completion(k, TraceParent.new(), 200, k, "", datetime.now(timezone.utc), 0.1)
             for k in ("completion", "chat", "stream")}
    assert completions_in([kinds], {"kind": "chat", "component": "epp"}) == [kinds["chat"]]
    assert completions_in([kinds], {"component": "epp"}) == list(kinds.values())


class FakeJaeger:
    def __init__(self, spans):
        self.spans = spans

    def trace_spans(self, trace_id):
        return [s for s in self.spans if s.trace_id == trace_id]

    def find_spans(self, service, since, until=None, operation=None, limit=1000):
        traces = {s.trace_id for s in self.spans if s.service == service}
        return [s for s in self.spans if s.trace_id in traces]


def test_a_requests_traces_include_the_root_a_component_started_on_its_own():
    from llmd_trace_e2e.report.artifacts import completion_trace_ids

    from .spans import span

    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    ns = int(t0.timestamp() * 1e9)
    done = Completion("completion", TraceParent("a" * 32, "b" * 16), 200, "cmpl-9", "", t0, 0.2)
    spans = [
        span("vllm", "llm_request", "1" * 16, parent="b" * 16, trace="a" * 32, start=ns + 10**7, end=ns + 10**8,
             **{"gen_ai.request.id": "cmpl-9-0"}),
        span("vllm", "GET /health", "2" * 16, parent=None, trace="c" * 32, start=ns + 10**7, end=ns + 2 * 10**7),
        span("epp", "gateway.request", "3" * 16, parent=None, trace="d" * 32, start=ns + 10**6, end=ns + 10**8),
        span("epp", "gateway.request", "4" * 16, parent=None, trace="e" * 32, start=ns + 10**9, end=ns + 2 * 10**9),
    ]
    assert completion_trace_ids(FakeJaeger(spans), done, ["epp", "vllm"]) == ["a" * 32, "d" * 32]


def test_expected_spans_follow_the_values_in_effect():
    from types import SimpleNamespace

    from llmd_trace_e2e.platforms.local.launches import baseline_values
    from llmd_trace_e2e.deployment.profiles import load_profile
    from llmd_trace_e2e.report.artifacts import expected_spans
    from llmd_trace_e2e.deployment.values import deep_merge, nest

    from dataclasses import replace

    # as a run without a routing proxy binary has the profile (platforms/local/components.py)
    profile = replace(load_profile("local"), absent={"routing-proxy": "no routing proxy binary"})
    base = baseline_values(profile)
    ms, epp = profile.values_schema["modelservice"].path, profile.values_schema["epp"].path
    expected = expected_spans(SimpleNamespace(profile=profile, values=base))
    assert expected == {profile.services["epp"]: tuple(profile.spans["epp"]),
                        profile.services["vllm-decode"]: ("llm_request",)}
    proxied = expected_spans(SimpleNamespace(profile=replace(profile, absent={}), values=base))
    assert proxied[profile.services["routing-proxy"]] == ("forward_request",), proxied
    zero = deep_merge(base, nest(epp, {"sampling": {"samplerArg": "0"}}))
    assert profile.services["epp"] not in expected_spans(SimpleNamespace(profile=profile, values=zero))
    off = deep_merge(base, nest(ms, {"enabled": False}))
    assert list(expected_spans(SimpleNamespace(profile=profile, values=off))) == [profile.services["epp"]]
