"""What the suite, the reports and the bench ask a trace backend, in the harness's own model
(traces/model.py). A backend's client implements `TraceQuery` (traces/jaeger.py for Jaeger) and is
registered in traces/backends.py; nothing above it reads the backend's wire format.

Spans come back whole-trace: a search by service answers every span of each trace that has a
span of that service in the window. An answer of "none yet" is an empty list, never an error; a
backend that does not answer raises `TraceQueryError` with one line saying where and why.
"""
from __future__ import annotations

from abc import abstractmethod
from datetime import datetime
from typing import Any, Protocol

from llmd_trace_e2e.traces.model import Span


class TraceQueryError(Exception):
    """The trace backend did not answer, or answered with an error."""


class TraceQuery(Protocol):
    """A backend's client subclasses this: it gets `all_spans`, and a method it lacks is refused
    when it is built (abstract), not answered with None."""

    base_url: str  # where its query API answers (written to the local stack's state file)

    @abstractmethod
    def services(self) -> list[str]:
        """The services that have stored spans, sorted."""
        ...

    @abstractmethod
    def find_spans(self, service: str, since: datetime, until: datetime | None = None,
                   operation: str | None = None, limit: int = 1000) -> list[Span]:
        """All spans of the traces (at most `limit`) that have a span of `service` (named
        `operation`, if given) starting in the window; `until` None: a minute from now."""
        ...

    @abstractmethod
    def trace_spans(self, trace_id: str) -> list[Span]:
        """The trace's spans, by start; [] when the backend has none of it (yet)."""
        ...

    @abstractmethod
    def stored_copies(self, trace_id: str) -> int:
        """How many span records the backend stores for the trace, duplicates included: a span
        written twice (two paths through the collector) counts twice."""
        ...

    @abstractmethod
    def vanished(self, max_traces: int = 50) -> list[Span]:
        """Spans this client returned earlier that the backend no longer returns, checked for the
        `max_traces` traces seen most recently (a restart of a memory store loses them)."""
        ...

    @abstractmethod
    def raw_trace(self, trace_id: str) -> dict[str, Any] | None:
        """The trace as the backend itself exports it, for the artifacts folder: written there
        unread (the harness reads spans through `trace_spans`). None when it has none of it."""
        ...

    @abstractmethod
    def another_client(self) -> "TraceQuery":
        """A client of the same backend with its own connection and memory (a probe that polls
        beside the suite)."""
        ...

    def all_spans(self, since: datetime, until: datetime | None = None) -> list[Span]:
        """Every span of every service in the window, once each (a trace across several services
        comes back in each one's search)."""
        seen: dict[tuple[str, str], Span] = {}
        for service in self.services():
            for span in self.find_spans(service, since, until):
                seen.setdefault((span.trace_id, span.span_id), span)
        return list(seen.values())
