"""A waterfall's layout: spans turned into shapes with pixel coordinates, one bar per span on one
time axis, coloured by service, indented under its parent; a span whose parent never arrived is
marked as an orphan. `waterfall.py` encodes the same shapes as HTML and as PNG.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from llmd_trace_e2e.traces.model import Span, Trace, group_traces

# Colour-blind-safe first (Okabe-Ito), then Tableau; a service keeps its colour by sorted name.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#8C564B", "#7F7F7F", "#BCBD22", "#17BECF", "#9467BD")
ORPHAN = "#C00000"
INK, MUTED, GRID, STRIPE = "#222222", "#666666", "#DDDDDD", "#F4F6F8"
MAX_ATTRS_IN_TITLE = 40

# How a span relates to its parent.
ROOT, CHILD, CALLER, ORPHANED = "root", "child", "caller", "orphan"
STATUS_TEXT = {ROOT: "root (no parent)", CHILD: "child", CALLER: "parent is the caller's span (outside the trace)",
               ORPHANED: "ORPHAN: its parent is not in the trace"}


@dataclass(frozen=True)
class Geometry:
    width: int = 1200
    label_w: int = 500  # the tree of names on the left
    row_h: int = 22
    bar_h: int = 14
    indent: int = 14
    pad: int = 12
    title_h: int = 44  # title and one line of counts
    axis_h: int = 22  # tick labels above the rows
    legend_row_h: int = 20
    font_px: int = 12
    duration_room: int = 70  # right of the last bar, for its duration label
    max_rows: int = 400

    @property
    def chart_left(self) -> int:
        return self.label_w + self.pad

    @property
    def chart_width(self) -> int:
        return self.width - self.chart_left - self.pad - self.duration_room

    @property
    def rows_top(self) -> int:
        return self.title_h + self.axis_h

    def label_chars(self, depth: int) -> int:
        return max(8, int((self.label_w - self.pad - 16 - depth * self.indent) / (self.font_px * 0.56)))


# --- shapes: the picture both encoders draw ----------------------------------------------------

@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float
    fill: str | None
    stroke: str | None = None
    dashed: bool = False
    title: str = ""  # hover text (HTML only)
    css: str = ""
    data: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Text:
    x: float
    y: float  # vertical middle of the text
    text: str
    fill: str = INK
    bold: bool = False
    anchor: str = "start"  # start | end
    css: str = ""
    data: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    stroke: str = GRID
    dashed: bool = False


Shape = Box | Text | Line


@dataclass(frozen=True)
class Row:
    trace_id: str
    span: Span | None  # None: the trace's header row
    depth: int = 0
    status: str = ROOT
    parent_row: int | None = None


@dataclass(frozen=True)
class Picture:
    width: int
    height: int
    title: str
    subtitle: str
    shapes: tuple[Shape, ...]
    rows: tuple[Row, ...]
    colors: dict[str, str] = field(default_factory=dict)


# --- layout ---------------------------------------------------------------------------------------

def _unique(spans: Iterable[Span]) -> list[Span]:
    seen: dict[tuple[str, str], Span] = {}
    for span in spans:
        seen.setdefault((span.trace_id, span.span_id), span)
    return list(seen.values())


def _status(span: Span, ids: set[str], external_parents: frozenset[str]) -> str:
    if not span.parent_span_id:
        return ROOT
    if span.parent_span_id in ids:
        return CHILD
    return CALLER if span.parent_span_id in external_parents else ORPHANED


def _trace_rows(trace: Trace, external_parents: frozenset[str], offset: int) -> list[Row]:
    ids = {s.span_id for s in trace.spans}
    kids: dict[str, list[Span]] = defaultdict(list)
    for span in trace.spans:  # already sorted by start
        if span.parent_span_id in ids:
            kids[span.parent_span_id].append(span)
    rows = [Row(trace.trace_id, None)]
    placed: set[str] = set()

    def walk(span: Span, depth: int, parent_row: int | None) -> None:
        if span.span_id in placed:
            return
        placed.add(span.span_id)
        rows.append(Row(trace.trace_id, span, depth, _status(span, ids, external_parents), parent_row))
        here = offset + len(rows) - 1
        for child in kids.get(span.span_id, []):
            walk(child, depth + 1, here)

    for span in trace.spans:
        if span.parent_span_id not in ids:
            walk(span, 0, None)
    for span in trace.spans:  # parent links in a cycle: shown, and marked as orphans
        if span.span_id not in placed:
            placed.add(span.span_id)
            rows.append(Row(trace.trace_id, span, 0, ORPHANED))
    return rows


def arrange(spans: Iterable[Span], external_parents: Iterable[str] = ()) -> list[Row]:
    """Rows in drawing order: per trace (earliest first) a header, then its spans depth-first."""
    external = frozenset(external_parents)
    traces = sorted(group_traces(_unique(spans)), key=lambda t: (t.spans[0].start_ns, t.trace_id))
    rows: list[Row] = []
    for trace in traces:
        rows += _trace_rows(trace, external, len(rows))
    return rows


def service_colors(spans: Iterable[Span]) -> dict[str, str]:
    return {svc: PALETTE[i % len(PALETTE)] for i, svc in enumerate(sorted({s.service for s in spans}))}


def _nice_step(total_ms: float, max_ticks: int = 8) -> float:
    raw = max(total_ms, 1e-6) / max_ticks
    magnitude = 10 ** _floor_log10(raw)
    for factor in (1, 2, 2.5, 5, 10):
        if factor * magnitude >= raw:
            return factor * magnitude
    return 10 * magnitude


def _floor_log10(value: float) -> int:
    exp = 0
    while value >= 10:
        value, exp = value / 10, exp + 1
    while value < 1:
        value, exp = value * 10, exp - 1
    return exp


def fmt_ms(ms: float) -> str:
    if ms == 0:
        return "0"
    if ms >= 10_000:
        return f"{ms / 1000:.3g} s"
    if ms >= 100:
        return f"{ms:.0f} ms"
    return f"{ms:.3g} ms" if ms >= 0.01 else f"{ms * 1000:.3g} µs".replace("µ", "u")


def _clip(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: max(1, chars - 3)] + "..."


def span_title(span: Span, status: str, t0_ns: int) -> str:
    lines = [f"{span.service}: {span.name}",
             f"{span.kind} · {fmt_ms(span.duration_ms)} · starts at +{fmt_ms((span.start_ns - t0_ns) / 1e6)}",
             f"span {span.span_id} · parent {span.parent_span_id or '-'} · {STATUS_TEXT[status]}",
             f"trace {span.trace_id}" + (f" · scope {span.scope}" if span.scope else "")]
    attrs = sorted(span.attributes.items())
    lines += [f"{k} = {v}" for k, v in attrs[:MAX_ATTRS_IN_TITLE]]
    if len(attrs) > MAX_ATTRS_IN_TITLE:
        lines.append(f"... {len(attrs) - MAX_ATTRS_IN_TITLE} more attributes")
    return "\n".join(lines)


def _legend_items(spans: Sequence[Span], colors: dict[str, str], rows: Sequence[Row]) -> list[tuple[str, str, str, bool]]:
    """(label, colour, service, dashed) per legend entry: one per service, then the markers in use."""
    counts: dict[str, int] = defaultdict(int)
    for span in spans:
        counts[span.service] += 1
    items = [(f"{svc} ({counts[svc]} span{'s' if counts[svc] != 1 else ''})", color, svc, False)
             for svc, color in colors.items()]
    orphans = sum(1 for r in rows if r.status == ORPHANED and r.span is not None)
    if orphans:
        items.append((f"orphan: parent not in the trace ({orphans})", ORPHAN, "", True))
    return items


def _legend_height(items, geo: Geometry) -> int:
    x, lines = geo.pad, 1
    for label, *_ in items:
        w = 16 + len(label) * geo.font_px * 0.6 + 24
        if x + w > geo.width - geo.pad and x > geo.pad:
            x, lines = geo.pad, lines + 1
        x += w
    return lines * geo.legend_row_h


def layout(spans: Sequence[Span], title: str = "", *, external_parents: Iterable[str] = (),
           geo: Geometry = Geometry(), empty_text: str = "nothing to draw: no span arrived for this selection") -> Picture:
    spans = _unique(spans)
    all_rows = arrange(spans, external_parents)
    rows, hidden = all_rows[: geo.max_rows], max(0, len(all_rows) - geo.max_rows)
    colors = service_colors(spans)
    t0 = min((s.start_ns for s in spans), default=0)
    t1 = max((max(s.end_ns, s.start_ns) for s in spans), default=0)
    total_ms = max((t1 - t0) / 1e6, 1e-3)
    scale = geo.chart_width / total_ms  # px per ms
    x_of = lambda ns: geo.chart_left + (ns - t0) / 1e6 * scale  # noqa: E731

    n_rows = len(rows) + (1 if hidden else 0) + (0 if spans else 1)
    items = _legend_items(spans, colors, rows)
    legend_top = geo.rows_top + n_rows * geo.row_h + geo.pad
    height = legend_top + _legend_height(items, geo) + geo.pad
    shapes: list[Shape] = []

    traces = len({s.trace_id for s in spans})
    subtitle = (f"{len(spans)} span(s) in {traces} trace(s) from {len(colors)} service(s) over {fmt_ms(total_ms)}"
                if spans else "no spans arrived")
    shapes.append(Text(geo.pad, 16, title or "trace waterfall", bold=True, css="title"))
    shapes.append(Text(geo.pad, 34, subtitle, fill=MUTED, css="subtitle"))

    # Time axis: ticks and grid lines over the rows.
    rows_bottom = geo.rows_top + n_rows * geo.row_h
    step = _nice_step(total_ms)
    tick = 0.0
    while tick <= total_ms + 1e-9 and spans:
        x = geo.chart_left + tick * scale
        shapes.append(Line(x, geo.rows_top - 4, x, rows_bottom, GRID))
        shapes.append(Text(x, geo.title_h + geo.axis_h / 2 - 2, fmt_ms(tick), fill=MUTED, css="tick"))
        tick += step

    for i, row in enumerate(rows):
        y = geo.rows_top + i * geo.row_h
        mid = y + geo.row_h / 2
        if row.span is None:
            count = sum(1 for s in spans if s.trace_id == row.trace_id)
            shapes.append(Box(0, y, geo.width, geo.row_h, "#E8ECF1", css="trace-header",
                              title=f"trace {row.trace_id}"))
            shapes.append(Text(geo.pad, mid, f"trace {row.trace_id} ({count} span{'s' if count != 1 else ''})",
                               bold=True, css="trace-label"))
            continue
        span, color = row.span, colors[row.span.service]
        title = span_title(span, row.status, t0)
        if i % 2:
            shapes.append(Box(0, y, geo.width, geo.row_h, STRIPE, title=title, css="stripe"))
        else:
            shapes.append(Box(0, y, geo.width, geo.row_h, "#FFFFFF", title=title, css="stripe"))
        mx = geo.pad + row.depth * geo.indent
        if row.parent_row is not None:  # tree connector from the parent's marker
            parent_depth = rows[row.parent_row].depth
            px = geo.pad + parent_depth * geo.indent + 4
            pmid = geo.rows_top + row.parent_row * geo.row_h + geo.row_h / 2
            shapes.append(Line(px, pmid + 5, px, mid, "#9AA5B1"))
            shapes.append(Line(px, mid, mx, mid, "#9AA5B1"))
        orphan = row.status == ORPHANED
        shapes.append(Box(mx, mid - 4, 8, 8, color, stroke=ORPHAN if orphan else None, css="marker"))
        label = f"{span.service}: {span.name}" + {ORPHANED: " (orphan)", CALLER: " (parent: caller)"}.get(row.status, "")
        shapes.append(Text(mx + 12, mid, _clip(label, geo.label_chars(row.depth)), fill=ORPHAN if orphan else INK,
                           css="label orphan" if orphan else "label"))
        x0 = x_of(span.start_ns)
        w = max(2.0, x_of(max(span.end_ns, span.start_ns)) - x0)
        y0 = mid - geo.bar_h / 2
        shapes.append(Box(x0, y0, w, geo.bar_h, color, stroke=ORPHAN if orphan else None, dashed=orphan, title=title,
                          css="bar orphan" if orphan else "bar",
                          data=(("span-id", span.span_id), ("service", span.service), ("status", row.status))))
        duration = fmt_ms(span.duration_ms)
        if x0 + w + 6 + len(duration) * geo.font_px * 0.6 <= geo.width - geo.pad:
            shapes.append(Text(x0 + w + 4, mid, duration, fill=MUTED, css="duration"))
        else:
            shapes.append(Text(x0 - 4, mid, duration, fill=MUTED, anchor="end", css="duration"))

    extra_y = geo.rows_top + len(rows) * geo.row_h + geo.row_h / 2
    if hidden:
        shapes.append(Text(geo.pad, extra_y, f"... {hidden} more rows not drawn: see the trace JSON", fill=MUTED))
    if not spans:
        shapes.append(Text(geo.pad, extra_y, empty_text, fill=ORPHAN, css="empty"))

    x, y = geo.pad, legend_top
    for label, color, service, dashed in items:
        w = 16 + len(label) * geo.font_px * 0.6 + 24
        if x + w > geo.width - geo.pad and x > geo.pad:
            x, y = geo.pad, y + geo.legend_row_h
        shapes.append(Box(x, y + 3, 12, 12, color if not dashed else "#FFFFFF", stroke=color if dashed else None,
                          dashed=dashed, css="legend-swatch"))
        shapes.append(Text(x + 16, y + 9, label, css="legend" if service else "legend-marker",
                           data=(("service", service),) if service else ()))
        x += w
    return Picture(geo.width, int(height), title, subtitle, tuple(shapes), tuple(rows), colors)
