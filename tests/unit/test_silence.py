"""A component that exports nothing at run time (platforms/silence.py), on FAKE platforms: which
components the first request must bring spans from, the one-line reason for one that brought
none, and (pytest_llmd_trace/suite.py) a fixture that cannot provide making its tests fail with the reason."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from dataclasses import replace
from types import SimpleNamespace

from llmd_trace_e2e.platforms.local.launches import baseline_values
from llmd_trace_e2e.platforms.silence import Watched, find_silent, watched
from llmd_trace_e2e.runtime.diagnose import Finding
from llmd_trace_e2e.runtime.paths import repo_root
from llmd_trace_e2e.runtime.ports import free_ports
from llmd_trace_e2e.deployment.profiles import load_profile
from llmd_trace_e2e.deployment.values import deep_merge
from llmd_trace_e2e.traces.model import Span
from llmd_trace_e2e.traffic.completions import Completion, TraceParent

pytest_plugins = ["pytester"]
EPP = "gateway-api-inference-extension/epp"


class FakeDiagnosis:
    def __init__(self, *found):
        self.found = list(found)

    def findings(self):
        return self.found


def fake_platform(values=None, tapped=(), gateway_service=None, findings=()):
    """A FAKE local platform: the local profile (as run without a routing proxy binary), a tap
    holding `tapped`, a diagnosis of `findings`."""
    profile = replace(load_profile("local"), absent={"routing-proxy": "no routing proxy binary"})
    return SimpleNamespace(name="local", profile=profile, values=values or baseline_values(profile),
                           gateway_service=gateway_service, collector_otlp_grpc="http://127.0.0.1:1",
                           export_batch_delay_s=0.5, unfiltered_spans=lambda: list(tapped),
                           diagnosis=lambda: FakeDiagnosis(*findings))


def completion() -> Completion:
    return Completion("completion", TraceParent.new(), 200, "cmpl-1", "", datetime.now(timezone.utc), 0.1)


def spans_now(*service_names: tuple[str, str]) -> list[Span]:
    now = time.time_ns()
    return [Span("a" * 32, f"{i + 1:016x}", None, service, name, "SERVER", {}, now, now + 1)
            for i, (service, name) in enumerate(service_names)]


def test_the_first_request_must_bring_spans_from_each_traced_component():
    platform = fake_platform()
    assert [(w.component, w.service) for w in watched(platform)] == [("epp", EPP), ("vllm-decode", "vllm-decode")]
    vllm_off = deep_merge(platform.values, {"tracing": {"enabled": False}})
    assert [w.component for w in watched(fake_platform(vllm_off))] == ["epp"]  # its tests fail as "tracing off"
    gateway = watched(fake_platform(gateway_service="gw"))[-1]
    assert (gateway.component, gateway.service, gateway.names) == ("gateway", "gw", ("ingress",))


def test_a_component_whose_spans_never_arrived_is_silent_with_one_reason():
    [dead] = free_ports(1)  # nothing listens there once free_ports returns
    values = deep_merge(baseline_values(load_profile("local")),
                        {"tracing": {"otlpEndpoint": f"http://127.0.0.1:{dead}"}})
    complaint = Finding("vllm-decode", "its span exporter logged 2 error(s)",
                        ("WARNING Transient error StatusCode.UNAVAILABLE encountered while exporting traces",))
    platform = fake_platform(values, spans_now((EPP, "gateway.request")), findings=[complaint])
    done = completion()
    settled = []
    silent = find_silent(platform, done, settled=lambda *args: settled.append(args))
    assert settled == [(platform, done)], "the verdict comes after the batch delay and a barrier"
    assert list(silent) == ["vllm-decode"]
    reason = silent["vllm-decode"]
    assert "\n" not in reason
    assert reason.startswith("vllm-decode exports nothing: its tracing is on (service vllm-decode), yet none of "
                             f"its spans (llm_request) for the session's first request (trace {done.traceparent.trace_id})")
    assert f"its exporter sends to http://127.0.0.1:{dead} (--otlp-traces-endpoint), where nothing listens" in reason
    assert reason.endswith("while exporting traces")


def test_every_component_whose_spans_arrived_is_not_silent():
    """The positive control: the same check on a tap holding both components' spans finds none."""
    platform = fake_platform(tapped=spans_now((EPP, "gateway.request"), ("vllm-decode", "llm_request")))
    assert find_silent(platform, completion(), settled=lambda *args: None) == {}
    nothing = fake_platform()
    assert find_silent(nothing, completion(), [Watched("epp", EPP, ("gateway.request",))],
                       settled=lambda *args: None).keys() == {"epp"}


FIXTURES = '''
import sys
sys.path.insert(0, {e2e!r})
import pytest
from pytest_llmd_trace.suite import fails_its_tests
from llmd_trace_e2e.runtime.errors import HarnessError


@pytest.fixture(scope="module")
@fails_its_tests
def broken():
    raise HarnessError("the EPP sampled none of 66 requests")


@pytest.fixture
@fails_its_tests
def failing_generator():
    pytest.fail("vllm-decode exports nothing: its exporter sends to http://127.0.0.1:9", pytrace=False)
    yield 1


@pytest.fixture
@fails_its_tests
def skipping():
    pytest.skip("kind only")


@pytest.fixture
@fails_its_tests
def fine():
    yield {{"a": 1}}


def test_uses_broken(broken):
    broken["completion"]


def test_also_uses_broken(broken):
    broken.rooted


def test_uses_failing_generator(failing_generator):
    a, b = failing_generator


def test_skips(skipping):
    pass


def test_fine(fine):
    assert fine["a"] == 1
'''


def test_a_fixture_that_cannot_provide_fails_its_tests_with_the_reason(pytester):
    pytester.makepyfile(test_fixtures=FIXTURES.format(e2e=str(repo_root() / "e2e")))
    result = pytester.runpytest("-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(passed=1, failed=3, skipped=1, errors=0)
    result.stdout.fnmatch_lines([
        "*_ test_uses_broken _*",
        "fixture broken could not provide what this test needs: HarnessError: the EPP sampled none of 66 requests",
        "*_ test_also_uses_broken _*",
        "fixture broken could not provide what this test needs: HarnessError: the EPP sampled none of 66 requests",
        "*_ test_uses_failing_generator _*",
        "fixture failing_generator could not provide what this test needs: vllm-decode exports nothing: its "
        "exporter sends to http://127.0.0.1:9",
    ])
