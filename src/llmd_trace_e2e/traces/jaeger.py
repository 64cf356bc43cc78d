"""Jaeger v2 query client on the v3 API (OTLP/JSON): the harness's `TraceQuery` for Jaeger.
Jaeger's wire format is read here only.

A v3 search with no match answers 404: that means "none yet", never an error.
The client remembers every span it returned (`seen`), so a failure can say which spans Jaeger
has since lost (`vanished`: a restart empties its memory storage).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import requests

from llmd_trace_e2e.traces.model import Span, spans_from_otlp_json
from llmd_trace_e2e.traces.query import TraceQuery, TraceQueryError


class JaegerQueryError(TraceQueryError):
    pass


def _reason(exc: requests.RequestException) -> str:
    """The root cause of a failed request, e.g. 'ConnectionError: Connection refused'."""
    errno = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", str(exc))
    return f"{type(exc).__name__}: {errno.group(1) if errno else str(exc)[:300]}"


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def spans_from_response(body: str) -> list[Span]:
    """The spans of a v3 trace answer. The gateway wraps TracesData as {"result": ...}; tolerate NDJSON chunks of those too."""
    try:
        docs = [json.loads(body)]
    except json.JSONDecodeError:
        docs = [json.loads(line) for line in body.splitlines() if line.strip()]
    return [span for doc in docs for span in spans_from_otlp_json(doc.get("result", doc))]


@dataclass
class JaegerClient(TraceQuery):
    base_url: str  # e.g. http://127.0.0.1:16686
    timeout_s: float = 5.0

    def __post_init__(self) -> None:
        self._http = requests.Session()
        self.seen: dict[tuple[str, str], Span] = {}  # (trace id, span id) -> span, everything returned so far

    def _remember(self, spans: list[Span]) -> list[Span]:
        for span in spans:
            self.seen.setdefault((span.trace_id, span.span_id), span)
        return spans

    def _fetch_trace(self, trace_id: str) -> list[Span]:
        resp = self._get(f"/api/v3/traces/{trace_id}")
        return spans_from_response(resp.text) if resp else []

    def vanished(self, max_traces: int = 50) -> list[Span]:
        """Spans this client returned earlier that Jaeger no longer has, checked for the
        `max_traces` traces seen most recently. Raises JaegerQueryError if Jaeger does not answer."""
        by_trace: dict[str, list[Span]] = {}
        for span in self.seen.values():
            by_trace.setdefault(span.trace_id, []).append(span)
        recent = sorted(by_trace, key=lambda t: max(s.end_ns for s in by_trace[t]), reverse=True)[:max_traces]
        gone: list[Span] = []
        for trace_id in recent:
            present = {s.span_id for s in self._fetch_trace(trace_id)}
            gone += [s for s in by_trace[trace_id] if s.span_id not in present]
        return gone

    def _get(self, path: str, params: dict[str, str] | None = None) -> requests.Response | None:
        url = f"{self.base_url.rstrip('/')}{path}"
        try:
            resp = self._http.get(url, params=params, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise JaegerQueryError(f"Jaeger query at {url} failed: {_reason(exc)}") from None
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise JaegerQueryError(f"Jaeger query {resp.url} answered {resp.status_code}: {resp.text[:300]}")
        return resp

    def services(self) -> list[str]:
        resp = self._get("/api/v3/services")
        return sorted(resp.json().get("services", [])) if resp else []

    def stored_copies(self, trace_id: str) -> int:
        """How many times the trace's spans were written (`raw_traces`: before the query's
        deduplication). Two paths through a collector to this Jaeger store a span twice."""
        resp = self._get(f"/api/v3/traces/{trace_id}", {"raw_traces": "true"})
        return len(spans_from_response(resp.text)) if resp else 0

    def trace_spans(self, trace_id: str) -> list[Span]:
        return sorted(self._remember(self._fetch_trace(trace_id)), key=lambda s: s.start_ns)

    def find_spans(self, service: str, since: datetime, until: datetime | None = None,
                   operation: str | None = None, limit: int = 1000) -> list[Span]:
        """All spans of the traces that have a span of `service` starting in the window."""
        until = until or datetime.now(timezone.utc) + timedelta(minutes=1)
        params = {
            "query.service_name": service,
            "query.start_time_min": _rfc3339(since),
            "query.start_time_max": _rfc3339(until),
            "query.num_traces": str(limit),
        }
        if operation:
            params["query.operation_name"] = operation
        resp = self._get("/api/v3/traces", params)
        return self._remember(spans_from_response(resp.text)) if resp else []

    def raw_trace(self, trace_id: str) -> dict[str, Any] | None:
        """The trace as Jaeger returns it (v3 JSON), for the artifacts folder."""
        resp = self._get(f"/api/v3/traces/{trace_id}")
        return resp.json() if resp else None

    def another_client(self) -> "JaegerClient":
        return JaegerClient(self.base_url, self.timeout_s)
