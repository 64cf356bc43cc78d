"""Which spans to fetch from the trace backend, as named objects a platform's expect_spans
understands (platforms.base.SharedPlatformParts.expect_spans), instead of bare lambdas."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from llmd_trace_e2e.traces.model import Span

STARTED_SLACK = timedelta(seconds=5)  # a trace may start a little before the client timed its request


class TraceBackend(Protocol):
    def find_spans(self, service: str, since: datetime, until: datetime | None = None) -> list[Span]: ...

    def trace_spans(self, trace_id: str) -> list[Span]: ...


class SpanQuery:
    """Base of the queries: `fetch(backend)` returns the spans."""

    def fetch(self, backend: TraceBackend) -> list[Span]:
        raise NotImplementedError


@dataclass(frozen=True)
class SpansOf(SpanQuery):
    """The spans of `service` in traces that started at or after `since`."""

    service: str
    since: datetime

    @classmethod
    def around(cls, service: str, started: datetime) -> "SpansOf":
        """The spans of `service` in traces that started around `started` (a request's start)."""
        return cls(service, started - STARTED_SLACK)

    def fetch(self, backend: TraceBackend) -> list[Span]:
        return backend.find_spans(self.service, self.since)


@dataclass(frozen=True)
class SpansInTrace(SpanQuery):
    """Every span of one trace."""

    trace_id: str

    def fetch(self, backend: TraceBackend) -> list[Span]:
        return backend.trace_spans(self.trace_id)
