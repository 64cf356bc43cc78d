"""The trace-query interface: a backend's client that lacks a method is refused when built,
and every client gets `all_spans` from the interface, over `services` and `find_spans`."""
from datetime import datetime, timezone

import pytest

from llmd_trace_e2e.traces.backends import BACKENDS
from llmd_trace_e2e.traces.query import TraceQuery

from .spans import span


class InMemory(TraceQuery):
    """A whole backend in a few lines: what a second backend's client has to answer."""

    def __init__(self, spans):
        self.base_url, self.spans = "memory:", list(spans)

    def services(self):
        return sorted({s.service for s in self.spans})

    def find_spans(self, service, since, until=None, operation=None, limit=1000):
        ids = {s.trace_id for s in self.spans if s.service == service}
        return [s for s in self.spans if s.trace_id in ids]

    def trace_spans(self, trace_id):
        return sorted((s for s in self.spans if s.trace_id == trace_id), key=lambda s: s.start_ns)

    def stored_copies(self, trace_id):
        return len(self.trace_spans(trace_id))

    def vanished(self, max_traces=50):
        return []

    def raw_trace(self, trace_id):
        return {"spans": [s.span_id for s in self.trace_spans(trace_id)]} if self.trace_spans(trace_id) else None

    def another_client(self):
        return InMemory(self.spans)


def test_all_spans_comes_from_the_interface_once_each():
    spans = [span("epp", "gateway.request", "1" * 16, parent=None, trace="a" * 32),
             span("vllm", "llm_request", "2" * 16, parent="1" * 16, trace="a" * 32),
             span("vllm", "llm_request", "3" * 16, parent=None, trace="b" * 32)]
    found = InMemory(spans).all_spans(datetime.now(timezone.utc))
    assert sorted(s.span_id for s in found) == ["1" * 16, "2" * 16, "3" * 16], \
        "a trace across two services must come back once, not once per service"


def test_a_client_lacking_a_method_is_refused_when_built():
    class Partial(InMemory):
        vanished = TraceQuery.vanished  # as if it had never been written

    assert InMemory([]).vanished() == [], "positive control: the whole client is built"
    with pytest.raises(TypeError, match="vanished"):
        Partial([])


def test_every_registered_backend_can_be_built_from_a_url():
    for name, build in BACKENDS.items():
        client = build("http://127.0.0.1:1")
        assert TraceQuery in type(client).__mro__, f"{name}: its client must subclass TraceQuery (abstract methods checked)"
        assert client.base_url == "http://127.0.0.1:1", name
