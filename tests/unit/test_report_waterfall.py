"""The waterfall from plain Span values: one bar per span, orphans marked, a legend per service,
and a PNG of the same picture."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from llmd_trace_e2e.report.waterfall import waterfall_html, write_waterfall
from llmd_trace_e2e.report.waterfall_layout import Geometry, arrange, layout

from .spans import CLIENT_PARENT, TRACE, full_path, span

SVG = "{http://www.w3.org/2000/svg}"
MS = 1_000_000


def spans_with_orphan():
    spans = full_path()
    spans.append(span("vllm-decode", "GET /metrics http send", "4000000000000001", parent="9999999999999999",
                      start=2 * MS, end=3 * MS))
    return spans


def svg_of(html: str) -> ET.Element:
    match = re.search(r"<svg.*</svg>", html, re.S)
    assert match, "no inline SVG in the page"
    return ET.fromstring(match.group(0))


def classes(el: ET.Element) -> list[str]:
    return (el.get("class") or "").split()


def bars(root: ET.Element) -> list[ET.Element]:
    return [r for r in root.iter(f"{SVG}rect") if "bar" in classes(r)]


def test_one_bar_per_span_with_its_ids():
    spans = spans_with_orphan()
    root = svg_of(waterfall_html(spans, "t", external_parents={CLIENT_PARENT}))
    found = bars(root)
    assert sorted(b.get("data-span-id") for b in found) == sorted(s.span_id for s in spans)
    assert {b.get("data-service") for b in found} == {s.service for s in spans}


def test_orphan_is_marked_and_callers_child_is_not():
    root = svg_of(waterfall_html(spans_with_orphan(), external_parents={CLIENT_PARENT}))
    status = {b.get("data-span-id"): b.get("data-status") for b in bars(root)}
    assert status["4000000000000001"] == "orphan"
    assert status["1000000000000001"] == "caller"  # parented to the client's own span
    assert [b.get("data-span-id") for b in bars(root) if "orphan" in classes(b)] == ["4000000000000001"]
    assert any(t.text and "(orphan)" in t.text for t in root.iter(f"{SVG}text"))


def test_without_the_callers_span_id_the_root_counts_as_an_orphan():
    root = svg_of(waterfall_html(full_path()))
    assert "orphan" in classes(next(b for b in bars(root) if b.get("data-span-id") == "1000000000000001"))


def test_legend_names_each_service_with_its_span_count():
    root = svg_of(waterfall_html(spans_with_orphan()))
    legend = {t.get("data-service"): t.text for t in root.iter(f"{SVG}text") if "legend" in classes(t)}
    assert set(legend) == {"llm-d-epp", "routing-proxy", "vllm-decode"}
    assert legend["vllm-decode"] == "vllm-decode (2 spans)"
    assert any("orphan" in (t.text or "") for t in root.iter(f"{SVG}text") if "legend-marker" in classes(t))


def test_rows_are_indented_under_their_parent():
    rows = [r for r in arrange(full_path()) if r.span is not None]
    depth = {r.span.name: r.depth for r in rows}
    assert depth == {"gateway.request": 0, "pick_endpoints": 1, "forward_request": 1, "llm_request": 2}


def test_bars_share_one_time_axis():
    spans = [span("a", "first", "1000000000000001", parent=None, start=0, end=10 * MS),
             span("b", "second", "1000000000000002", parent="1000000000000001", start=5 * MS, end=10 * MS)]
    geo = Geometry()
    by_id = {b.get("data-span-id"): b for b in bars(svg_of(waterfall_html(spans)))}
    first, second = by_id["1000000000000001"], by_id["1000000000000002"]
    assert float(first.get("x")) == pytest.approx(geo.chart_left)
    assert float(first.get("width")) == pytest.approx(geo.chart_width)
    assert float(second.get("x")) == pytest.approx(geo.chart_left + geo.chart_width / 2)


def test_hover_title_carries_the_attributes():
    root = svg_of(waterfall_html(full_path()))
    llm = next(b for b in bars(root) if b.get("data-span-id") == "3000000000000001")
    title = llm.find(f"{SVG}title").text
    assert "vllm-decode: llm_request" in title and "gen_ai.request.model = tiny" in title


def test_several_traces_get_a_header_each():
    spans = full_path() + [span("vllm-decode", "llm_request", "5000000000000001", parent=None, trace="1" * 32)]
    root = svg_of(waterfall_html(spans))
    headers = [t.text for t in root.iter(f"{SVG}text") if "trace-label" in classes(t)]
    assert headers == [f"trace {TRACE} (4 spans)", f"trace {'1' * 32} (1 span)"]


def test_the_page_is_self_contained():
    page = waterfall_html(spans_with_orphan(), "<script>x</script>")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<script>x</script>" not in page  # titles are escaped
    assert "<style>" in page


def test_no_spans_says_so():
    page = waterfall_html([], "empty", empty_text="nothing came")
    root = svg_of(page)
    assert bars(root) == []
    assert any(t.text == "nothing came" for t in root.iter(f"{SVG}text"))


def test_png_is_the_same_picture_size(tmp_path):
    from PIL import Image

    spans = spans_with_orphan()
    picture = layout(spans, "png")
    html_path, png_path = write_waterfall(spans, tmp_path, "png")
    with Image.open(png_path) as image:
        assert image.format == "PNG"
        assert image.size == (picture.width, picture.height)
    geo = Geometry()
    assert picture.width == geo.width
    # 1 trace header + 5 spans, then one legend line
    assert picture.height == geo.rows_top + 6 * geo.row_h + geo.pad + geo.legend_row_h + geo.pad
    assert f'height="{picture.height}"' in html_path.read_text()


def test_png_draws_the_orphan_in_red(tmp_path):
    from PIL import Image

    spans = spans_with_orphan()
    picture = layout(spans)
    _, png_path = write_waterfall(spans, tmp_path)
    bar = next(s for s in picture.shapes if getattr(s, "data", ()) and ("span-id", "4000000000000001") in s.data)
    with Image.open(png_path) as image:
        edge = image.convert("RGB").getpixel((int(bar.x) + 1, int(bar.y)))
    assert edge == (0xC0, 0x00, 0x00)


def test_row_cap_keeps_big_sets_drawable():
    spans = [span("svc", f"s{i}", f"{i:016x}", parent=None, trace=f"{i:032x}", start=i, end=i + 1) for i in range(1, 301)]
    picture = layout(spans, geo=Geometry(max_rows=50))
    assert len([s for s in picture.shapes if "bar" in getattr(s, "css", "").split()]) < 50
    assert any("more rows not drawn" in getattr(s, "text", "") for s in picture.shapes)
