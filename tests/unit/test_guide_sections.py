"""The suite as the tracing guide's checklist: sections named by e2e tests exist, and summary.md
groups verdicts by section in the guide's order."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.deployment.guide import check_section, sections
from llmd_trace_e2e.report.summary import TestRecord, render_summary

GUIDE = Path(__file__).resolve().parents[3] / "shared" / "seed" / "tracing-guide.md"


def test_every_section_is_a_heading_of_the_guide():
    if not GUIDE.exists():
        pytest.skip(f"the tracing guide is not at {GUIDE}")
    headings = {m.group(1).strip() for m in re.finditer(r"^#+ (.+)$", GUIDE.read_text(), re.M)}
    assert set(sections()) <= headings, f"not headings of the guide: {sorted(set(sections()) - headings)}"


def test_a_misspelled_section_is_refused_naming_the_likely_one():
    with pytest.raises(ConfigError, match=r"did you mean 'Production Sampling'\?"):
        check_section("Production Sampeling", "e2e/test_x.py::test_y")
    assert check_section("Recommended Filters", "here") == "Recommended Filters"


def test_summary_groups_by_section_in_the_guides_order():
    records = [TestRecord("e2e/a.py::test_filter", "passed", 1.0, section="Recommended Filters"),
               TestRecord("e2e/b.py::test_trace", "failed", 1.0, section="What Gets Traced"),
               TestRecord("e2e/c.py::test_ratio", "xfailed", 1.0, section="Production Sampling")]
    text = render_summary(records)
    headings = re.findall(r"^## (.+)$", text, re.M)
    assert headings == ["What Gets Traced", "Production Sampling", "Recommended Filters"]
    assert f"The guide promises: {sections()['What Gets Traced']}. 1 failed." in text
    assert text.index("test_trace") < text.index("test_ratio") < text.index("test_filter")


def test_a_summary_without_sections_has_no_section_headings():
    assert "## " not in render_summary([TestRecord("tests/x.py::test_a", "passed", 1.0)])
