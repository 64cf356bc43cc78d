"""A trace, or any set of spans, as a waterfall in two encodings of one layout
(`waterfall_layout.layout`): `to_html` writes the shapes as inline SVG in a self-contained page
(hover a row for its attributes; no external asset, opens offline) and `to_png` draws the very same
shapes with Pillow, so the two cannot drift apart.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Sequence

from llmd_trace_e2e.report.waterfall_layout import CALLER, ORPHANED, STATUS_TEXT, Box, Geometry, Line, Picture, Shape, Text, fmt_ms, layout
from llmd_trace_e2e.traces.model import Span


# --- HTML (inline SVG) ---------------------------------------------------------------------------

_CSS = """
body { font-family: "DejaVu Sans", Arial, Helvetica, sans-serif; margin: 16px; color: #222; }
svg text { font-family: "DejaVu Sans", Arial, Helvetica, sans-serif; font-size: 12px; dominant-baseline: middle; }
svg text.title { font-size: 14px; }
svg rect.bar:hover, svg rect.stripe:hover { opacity: 0.85; }
table { border-collapse: collapse; font-size: 12px; margin-top: 8px; }
td, th { border: 1px solid #ddd; padding: 2px 6px; vertical-align: top; text-align: left; }
tr.orphan td { color: #C00000; }
code, td.attrs { font-family: "DejaVu Sans Mono", monospace; font-size: 11px; white-space: pre-wrap; }
"""


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _svg_shape(shape: Shape) -> str:
    if isinstance(shape, Line):
        dash = ' stroke-dasharray="4 3"' if shape.dashed else ""
        return (f'<line x1="{shape.x1:.1f}" y1="{shape.y1:.1f}" x2="{shape.x2:.1f}" y2="{shape.y2:.1f}" '
                f'stroke="{shape.stroke}"{dash}/>')
    if isinstance(shape, Text):
        css, data = shape.css, "".join(f' data-{k}="{_esc(v)}"' for k, v in shape.data)
        weight = ' font-weight="bold"' if shape.bold else ""
        anchor = ' text-anchor="end"' if shape.anchor == "end" else ""
        return (f'<text x="{shape.x:.1f}" y="{shape.y:.1f}" fill="{shape.fill}" class="{_esc(css)}"{data}'
                f'{weight}{anchor}>{_esc(shape.text)}</text>')
    attrs = [f'x="{shape.x:.1f}"', f'y="{shape.y:.1f}"', f'width="{shape.w:.1f}"', f'height="{shape.h:.1f}"',
             f'fill="{shape.fill or "none"}"']
    if shape.stroke:
        attrs.append(f'stroke="{shape.stroke}" stroke-width="{2 if shape.dashed else 1.5}"')
        if shape.dashed:
            attrs.append('stroke-dasharray="4 2"')
    if shape.css:
        attrs.append(f'class="{_esc(shape.css)}"')
    attrs += [f'data-{k}="{_esc(v)}"' for k, v in shape.data]
    if shape.title:
        return f'<rect {" ".join(attrs)}><title>{_esc(shape.title)}</title></rect>'
    return f'<rect {" ".join(attrs)}/>'


def to_svg(picture: Picture) -> str:
    body = "\n".join(_svg_shape(s) for s in picture.shapes)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{picture.width}" height="{picture.height}" '
            f'viewBox="0 0 {picture.width} {picture.height}" role="img" aria-label="{_esc(picture.title)}">\n'
            f'<rect x="0" y="0" width="{picture.width}" height="{picture.height}" fill="#FFFFFF"/>\n{body}\n</svg>')


def _span_table(picture: Picture) -> str:
    spans = [r for r in picture.rows if r.span is not None]
    if not spans:
        return ""
    t0 = min(r.span.start_ns for r in spans)
    head = "<tr><th>service</th><th>span</th><th>kind</th><th>start</th><th>duration</th><th>span id</th>" \
           "<th>parent</th><th>trace</th><th>attributes</th></tr>"
    lines = []
    for r in spans:
        s = r.span
        attrs = "\n".join(f"{k}={v}" for k, v in sorted(s.attributes.items()))
        parent = s.parent_span_id or "-"
        if r.status in (ORPHANED, CALLER):
            parent += f" ({STATUS_TEXT[r.status]})"
        lines.append(f'<tr class="{r.status}"><td>{_esc(s.service)}</td><td>{"&nbsp;" * 2 * r.depth}{_esc(s.name)}'
                     f'</td><td>{_esc(s.kind)}</td><td>+{_esc(fmt_ms((s.start_ns - t0) / 1e6))}</td>'
                     f'<td>{_esc(fmt_ms(s.duration_ms))}</td><td><code>{s.span_id}</code></td>'
                     f'<td><code>{_esc(parent)}</code></td><td><code>{s.trace_id}</code></td>'
                     f'<td class="attrs">{_esc(attrs)}</td></tr>')
    return (f"<details><summary>every span, with its attributes ({len(spans)})</summary>\n"
            f"<table>\n{head}\n" + "\n".join(lines) + "\n</table></details>")


def to_html(picture: Picture) -> str:
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n'
            f"<title>{_esc(picture.title or 'trace waterfall')}</title>\n<style>{_CSS}</style></head>\n<body>\n"
            f"{to_svg(picture)}\n"
            '<p style="color:#666;font-size:12px">Hover a row for the span\'s ids and attributes. '
            "Rows are indented under their parent; a red dashed bar is an orphan (its parent span is "
            "not in the trace).</p>\n"
            f"{_span_table(picture)}\n</body></html>\n")


def waterfall_html(spans: Sequence[Span], title: str = "", **kwargs) -> str:
    return to_html(layout(spans, title, **kwargs))


# --- PNG (Pillow) -------------------------------------------------------------------------------

def _font(px: int):
    from PIL import ImageFont

    for path in ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",):
        try:
            return ImageFont.truetype(path, px)
        except OSError:
            continue
    return ImageFont.load_default(px)  # Pillow's bundled font: no system font needed


def _dashed(draw, points: list[tuple[float, float]], color: str, width: int, dash: float = 4, gap: float = 2) -> None:
    for (x1, y1), (x2, y2) in zip(points, points[1:]):
        length = ((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5
        pos = 0.0
        while pos < length:
            end = min(pos + dash, length)
            draw.line([(x1 + (x2 - x1) * pos / length, y1 + (y2 - y1) * pos / length),
                       (x1 + (x2 - x1) * end / length, y1 + (y2 - y1) * end / length)], fill=color, width=width)
            pos = end + gap


def to_png(picture: Picture, path: Path, font_px: int = Geometry.font_px) -> Path:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (picture.width, picture.height), "#FFFFFF")
    draw = ImageDraw.Draw(image)
    font, title_font = _font(font_px), _font(font_px + 2)
    for shape in picture.shapes:
        if isinstance(shape, Line):
            if shape.dashed:
                _dashed(draw, [(shape.x1, shape.y1), (shape.x2, shape.y2)], shape.stroke, 1)
            else:
                draw.line([(shape.x1, shape.y1), (shape.x2, shape.y2)], fill=shape.stroke, width=1)
        elif isinstance(shape, Box):
            box = [shape.x, shape.y, shape.x + max(shape.w, 1), shape.y + shape.h]
            if shape.fill:
                draw.rectangle(box, fill=shape.fill)
            if shape.stroke:
                x0, y0, x1, y1 = box
                outline = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
                if shape.dashed:
                    _dashed(draw, outline, shape.stroke, 2)
                else:
                    draw.line(outline, fill=shape.stroke, width=1)
        else:
            f = title_font if shape.css == "title" else font
            anchor = "rm" if shape.anchor == "end" else "lm"
            offsets = ((0, 0), (1, 0)) if shape.bold else ((0, 0),)
            for dx, dy in offsets:
                draw.text((shape.x + dx, shape.y + dy), shape.text, fill=shape.fill, font=f, anchor=anchor)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "PNG", optimize=True)
    return path


def write_waterfall(spans: Sequence[Span], folder: Path, title: str = "", *, stem: str = "waterfall",
                    **kwargs) -> tuple[Path, Path]:
    """`<folder>/<stem>.html` and `<folder>/<stem>.png`, the same picture (kwargs: see layout)."""
    picture = layout(spans, title, **kwargs)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    html_path = folder / f"{stem}.html"
    html_path.write_text(to_html(picture), encoding="utf-8")
    return html_path, to_png(picture, folder / f"{stem}.png")
