"""Which spans to fetch from the trace backend, as named objects a platform's expect_spans
understands (platforms.base.SharedPlatformParts.expect_spans), instead of bare lambdas."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from llmd_trace_e2e.traces.model import Span
from llmd_trace_e2e.traces.query import TraceQuery

STARTED_SLACK = timedelta(seconds=5)  # a trace may start a little before the client timed its request


class SpanQuery:
    """Base of the queries: `fetch(backend)` returns the spans."""

    def fetch(self, backend: TraceQuery) -> list[Span]:
        raise NotImplementedError


@dataclass(frozen=True)
class SpansOf(SpanQuery):
    """Every span of the traces that have a span of `service` starting at or after `since` (whole
    traces: filter by `span.service` for that service's own)."""

    service: str
    since: datetime

    @classmethod
    def around(cls, service: str, started: datetime) -> "SpansOf":
        """The spans of `service` in traces that started around `started` (a request's start)."""
        return cls(service, started - STARTED_SLACK)

    def fetch(self, backend: TraceQuery) -> list[Span]:
        return backend.find_spans(self.service, self.since)


@dataclass(frozen=True)
class SpansInTrace(SpanQuery):
    """Every span of one trace."""

    trace_id: str

    def fetch(self, backend: TraceQuery) -> list[Span]:
        return backend.trace_spans(self.trace_id)
