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


def pytest_collection_modifyitems(items):
    """Variants restart components: run them last, so the rest share one start."""
    items.sort(key=lambda item: item.get_closest_marker("variant") is not None)


@pytest.fixture(autouse=True)
def _baseline_values(request):
    """Tests that are not variants run with the run's own values."""
    if request.node.get_closest_marker("variant") is None and "platform" in request.fixturenames:
        request.getfixturevalue("platform").reset()
