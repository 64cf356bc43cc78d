"""For tests that need the real chart: skip (loudly where it should have been there) otherwise."""
from __future__ import annotations

import pytest

from llmd_trace_e2e.deployment.chart_render import chart_source
from llmd_trace_e2e.runtime.errors import ToolMissing
from llmd_trace_e2e.runtime.paths import tool


def real_chart_or_skip(chart: str, version: str, what: str, *, loud_if_unavailable: bool = False) -> None:
    if chart_source(chart, version) is None:
        prefix = "SKIPPED LOUDLY: " if loud_if_unavailable else ""
        pytest.skip(f"{prefix}{chart} {version} cannot be had here: {what} is not checked")
    try:
        tool("helm")
    except ToolMissing as exc:
        pytest.skip(f"SKIPPED LOUDLY: {exc}: {what} is not checked")
