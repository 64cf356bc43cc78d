"""Optional abilities are small interfaces only the platforms that have them implement; expecting
spans is the platform's; a stale platform.variant() is refused in one line naming apply_variant."""
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from llmd_trace_e2e.platforms.abilities import FilterCounter, ModelServers, Pods, SpanTap
from llmd_trace_e2e.platforms.base import SharedPlatformParts
from llmd_trace_e2e.platforms.kind.platform import KindE2EPlatform
from llmd_trace_e2e.platforms.local.attached import AttachedPlatform
from llmd_trace_e2e.platforms.local.platform import LocalPlatform
from llmd_trace_e2e.traces.assertions import SpansExist, TraceAssertionError
from llmd_trace_e2e.traces.span_queries import SpansInTrace, SpansOf

from .spans import TRACE, full_path


@pytest.mark.parametrize("platform_class, abilities", [
    (LocalPlatform, {SpanTap, FilterCounter}),
    (AttachedPlatform, {SpanTap, FilterCounter}),
    (KindE2EPlatform, {Pods}),
])
def test_each_platform_has_the_abilities_it_really_has(platform_class, abilities):
    has = {a for a in (SpanTap, FilterCounter, Pods) if issubclass(platform_class, a)}
    assert has == abilities, f"{platform_class.__name__} implements {sorted(a.__name__ for a in has)}"


def test_only_the_local_platform_names_its_model_servers():
    assert hasattr(LocalPlatform, "model_servers"), "LocalPlatform lost its model_servers"
    assert not any(hasattr(p, "model_servers") for p in (AttachedPlatform, KindE2EPlatform))
    assert isinstance(SimpleNamespace(model_servers={"decode-0": "127.0.0.1:8000"}), ModelServers)
    assert not isinstance(SimpleNamespace(), ModelServers)


class FakeBackend:
    def __init__(self):
        self.asked = []

    def find_spans(self, service, since, until=None):
        self.asked.append(("find_spans", service, since))
        return [s for s in full_path() if s.service == service]

    def trace_spans(self, trace_id):
        self.asked.append(("trace_spans", trace_id))
        return full_path()


class FakePlatform(SharedPlatformParts):
    name = "fake"

    def __init__(self, artifacts="artifacts/run-1"):
        self.traces, self.artifacts = FakeBackend(), artifacts

    def diagnosis(self):
        return None


def test_expect_spans_fetches_what_the_query_names_and_fails_with_the_platforms_logs():
    platform = FakePlatform()
    since = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert len(platform.expect_spans(SpansOf("vllm-decode", since), [SpansExist("vllm-decode")], "vLLM's")) == 1
    assert platform.expect_spans(SpansInTrace(TRACE), [SpansExist("llm-d-epp")], "the trace") == full_path()
    assert platform.traces.asked == [("find_spans", "vllm-decode", since), ("trace_spans", TRACE)]
    with pytest.raises(TraceAssertionError, match="logs and artifacts: artifacts/run-1"):
        platform.expect_spans_now(SpansInTrace(TRACE), [SpansExist("nobody")], "a span from nobody")


def test_a_stale_variant_call_names_apply_variant():
    with pytest.raises(TypeError, match=r"platform.variant\(\) is gone: call platform.apply_variant"):
        FakePlatform().variant({"tracing": {"enabled": False}})
