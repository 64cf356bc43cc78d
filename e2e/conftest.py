"""Fixtures shared by the e2e suite: one request per kind, sent once per session."""
from __future__ import annotations

import pytest

from checks import send_traced_by_every_hop


@pytest.fixture(scope="session")
def completions(platform):
    """A completion and a chat completion (plain and streaming), each in a trace the test chose
    and traced by every component, whatever the EPP's sampler ratio."""
    return {key: send_traced_by_every_hop(platform, chat=chat, stream=stream).completion
            for key, chat, stream in (("completion", False, False), ("chat", True, False), ("stream", False, True))}


def _start_order(item) -> tuple[bool, bool, bool]:
    """Variants restart components: they run last, so the rest share one start. Of them, those
    that restart only the gateway go first (vLLM, the slowest to start, keeps the baseline), then
    those that need the baseline for their positive control, then the rest: each vLLM start once."""
    variant = item.get_closest_marker("variant")
    if variant is None:
        return False, False, False
    return True, variant.kwargs.get("restarts") != "gateway", not variant.kwargs.get("from_baseline", False)


def pytest_collection_modifyitems(items):
    items.sort(key=_start_order)


@pytest.fixture(autouse=True)
def _baseline_values(request):
    """Tests that are not variants run with the run's own values."""
    if request.node.get_closest_marker("variant") is None and "platform" in request.fixturenames:
        request.getfixturevalue("platform").reset()
