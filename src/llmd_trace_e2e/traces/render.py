"""Text renderings of what arrived: a tree per trace, an inventory per service, a failure table."""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

from llmd_trace_e2e.traces.model import Span, Trace, group_traces

KEY_ATTRIBUTES = (
    "http.route", "url.path", "http.target", "http.url", "http.method", "http.request.method",
    "http.status_code", "http.response.status_code", "gen_ai.request.model", "gen_ai.response.model",
    "llm_d.pd_proxy.target", "x-gateway-destination-endpoint",
)


def _attrs(span: Span) -> str:
    shown = [f"{k}={span.attributes[k]}" for k in KEY_ATTRIBUTES if k in span.attributes]
    return f"  {{{', '.join(shown)}}}" if shown else ""


def render_tree(trace: Trace, max_spans: int = 60) -> str:
    lines = [f"trace {trace.trace_id} ({len(trace.spans)} spans)"]
    count = 0

    def walk(span: Span, depth: int) -> None:
        nonlocal count
        count += 1
        if count > max_spans:
            return
        orphan = "" if depth or span.parent_span_id is None else f"  (parent {span.parent_span_id} not in trace)"
        lines.append(f"{'  ' * (depth + 1)}{span.service} :: {span.name} [{span.kind}] "
                     f"{span.duration_ms:.1f}ms{_attrs(span)}{orphan}")
        for child in trace.children(span.span_id):
            walk(child, depth + 1)

    for root in trace.roots():
        walk(root, 0)
    if count > max_spans:
        lines.append(f"  ... {count - max_spans} more spans")
    return "\n".join(lines)


def render_inventory(spans: Sequence[Span]) -> str:
    if not spans:
        return "no spans at all"
    by_service = Counter(s.service for s in spans)
    lines = []
    for service, total in sorted(by_service.items()):
        names = Counter(s.name for s in spans if s.service == service)
        detail = ", ".join(f"{n} x{c}" if c > 1 else n for n, c in sorted(names.items()))
        lines.append(f"  {service}: {total} span(s): {detail}")
    return "\n".join(lines)


def render_traces(spans: Iterable[Span], max_traces: int = 8) -> str:
    traces = sorted(group_traces(spans), key=lambda t: t.spans[0].start_ns if t.spans else 0)
    out = [render_tree(t) for t in traces[:max_traces]]
    if len(traces) > max_traces:
        out.append(f"... {len(traces) - max_traces} more traces")
    return "\n".join(out) if out else "no traces"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    def cell(v: object) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
