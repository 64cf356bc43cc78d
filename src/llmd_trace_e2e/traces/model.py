"""Spans and traces as plain typed values, decoded at the edge from OTLP (JSON or protobuf)."""
from __future__ import annotations

import base64
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

_KINDS = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")


@dataclass(frozen=True)
class Span:
    trace_id: str  # 32 lowercase hex digits
    span_id: str  # 16 lowercase hex digits
    parent_span_id: str | None
    service: str
    name: str
    kind: str = "INTERNAL"
    attributes: Mapping[str, Any] = field(default_factory=dict)
    start_ns: int = 0
    end_ns: int = 0
    scope: str = ""
    resource: Mapping[str, Any] = field(default_factory=dict)  # its resource's attributes (service.name among them)
    status: str = "UNSET"  # OK, ERROR or UNSET
    events: tuple[str, ...] = ()  # event names, in order

    @property
    def duration_ms(self) -> float:
        return max(0, self.end_ns - self.start_ns) / 1e6


@dataclass(frozen=True)
class Trace:
    trace_id: str
    spans: tuple[Span, ...]

    def services(self) -> set[str]:
        return {s.service for s in self.spans}

    def by_id(self) -> dict[str, Span]:
        return {s.span_id: s for s in self.spans}

    def roots(self) -> list[Span]:
        """Spans whose parent is absent from the trace (true roots, or orphans of a lost parent)."""
        ids = self.by_id()
        return sorted((s for s in self.spans if s.parent_span_id not in ids), key=lambda s: s.start_ns)

    def children(self, span_id: str) -> list[Span]:
        return sorted((s for s in self.spans if s.parent_span_id == span_id), key=lambda s: s.start_ns)

    def ancestors(self, span: Span) -> list[Span]:
        ids, chain, seen = self.by_id(), [], set()
        while span.parent_span_id in ids and span.parent_span_id not in seen:
            seen.add(span.parent_span_id)
            span = ids[span.parent_span_id]
            chain.append(span)
        return chain


def group_traces(spans: Iterable[Span]) -> list[Trace]:
    grouped: dict[str, list[Span]] = defaultdict(list)
    for span in spans:
        grouped[span.trace_id].append(span)
    return [Trace(tid, tuple(sorted(ss, key=lambda s: s.start_ns))) for tid, ss in grouped.items()]


# --- OTLP JSON ----------------------------------------------------------------------------

def _hex_id(value: str | None, size: int) -> str | None:
    """OTLP/JSON says hex; some encoders still emit base64 (protobuf's bytes mapping)."""
    if not value:
        return None
    if len(value) == size * 2:
        try:
            int(value, 16)
            return value.lower()
        except ValueError:
            pass
    raw = base64.b64decode(value)
    return raw.hex() if any(raw) else None


def _any_value(value: Mapping[str, Any]) -> Any:
    if "stringValue" in value:
        return value["stringValue"]
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "arrayValue" in value:
        return [_any_value(v) for v in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return _attributes(value["kvlistValue"].get("values", []))
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def _attributes(items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    return {kv["key"]: _any_value(kv.get("value", {})) for kv in items}


def _kind(value: Any) -> str:
    if isinstance(value, int):
        return _KINDS[value] if 0 <= value < len(_KINDS) else "UNSPECIFIED"
    return str(value or "SPAN_KIND_UNSPECIFIED").removeprefix("SPAN_KIND_")


_STATUS = ("UNSET", "OK", "ERROR")


def _status(value: Any) -> str:
    code = (value or {}).get("code", 0)
    if isinstance(code, int):
        return _STATUS[code] if 0 <= code < len(_STATUS) else "UNSET"
    return str(code).removeprefix("STATUS_CODE_")


def spans_from_otlp_json(traces_data: Mapping[str, Any]) -> list[Span]:
    """Decode an OTLP/JSON TracesData ({"resourceSpans": [...]})."""
    spans = []
    for rs in traces_data.get("resourceSpans", []) or []:
        resource = _attributes(rs.get("resource", {}).get("attributes", []))
        service = str(resource.get("service.name", "unknown_service"))
        for ss in rs.get("scopeSpans", []) or []:
            scope = (ss.get("scope") or {}).get("name", "")
            for sp in ss.get("spans", []) or []:
                spans.append(Span(
                    trace_id=_hex_id(sp.get("traceId"), 16) or "",
                    span_id=_hex_id(sp.get("spanId"), 8) or "",
                    parent_span_id=_hex_id(sp.get("parentSpanId"), 8),
                    service=service,
                    name=sp.get("name", ""),
                    kind=_kind(sp.get("kind")),
                    attributes=_attributes(sp.get("attributes", [])),
                    start_ns=int(sp.get("startTimeUnixNano", 0)),
                    end_ns=int(sp.get("endTimeUnixNano", 0)),
                    scope=scope,
                    resource=resource,
                    status=_status(sp.get("status")),
                    events=tuple(e.get("name", "") for e in sp.get("events", []) or []),
                ))
    return spans
