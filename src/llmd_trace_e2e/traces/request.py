"""Which spans one request left, among all spans seen: those in the caller's trace, vLLM's
llm_request carrying its response id, and whole traces rooted during the request by a component
that ignored the caller's traceparent and started its own (the GAIE EPP). All processes share
one clock and the suite sends one request at a time, so "during" needs no slack; a `GET` root is
a scrape or a health check, never the request."""
from __future__ import annotations

from typing import Sequence

from .model import Span


def spans_of_request(spans: Sequence[Span], completion) -> list[Span]:
    caller = completion.traceparent.trace_id
    begin = completion.started.timestamp()
    end = begin + completion.seconds
    joined = {s.service for s in spans if s.trace_id == caller}
    traces = {caller} | {s.trace_id for s in spans if completion.is_request_of(s)}
    traces |= {s.trace_id for s in spans
               if not s.parent_span_id and s.service not in joined and not s.name.startswith("GET ")
               and begin <= s.start_ns / 1e9 <= end}
    return [s for s in spans if s.trace_id in traces]
