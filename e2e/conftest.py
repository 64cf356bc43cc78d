"""Fixtures shared by the e2e suite: one request per kind, sent once per session."""
from __future__ import annotations

import pytest

from llmd_trace_e2e.platforms.silence import find_silent, watched
from llmd_trace_e2e.runtime.errors import HarnessError
from llmd_trace_e2e.traffic import completions as traffic
from llmd_trace_e2e.traffic.resend import NeverSampled

from pytest_llmd_trace.suite import fails_its_tests, send_traced_by_every_hop


@pytest.fixture(scope="session")
@fails_its_tests
def completions(platform):
    """A completion and a chat completion (plain and streaming), each in a trace the test chose
    and traced by every component, whatever the EPP's sampler ratio."""
    return {key: send_traced_by_every_hop(platform, chat=chat, stream=stream).completion
            for key, chat, stream in (("completion", False, False), ("chat", True, False), ("stream", False, True))}


@pytest.fixture(scope="session")
def silent_components(platform):
    """Components whose tracing is on but whose spans never reach the collector, found once from
    the session's first request (platform.silent: component -> why). A test that needs one fails
    with that reason at once (suite.service_or_skip); the others run as usual."""
    platform.reset()
    watching = watched(platform)
    silent: dict[str, str] = {}
    try:
        done = send_traced_by_every_hop(platform).completion
    except NeverSampled as err:  # the EPP, deciding alone at a ratio below 1, sampled none of them
        silent["epp"] = f"epp exports nothing the suite can see: {err}"
        watching = [w for w in watching if w.component != "epp"]
        done = None
    except HarnessError:  # the request itself failed: every test that sends one says why
        return platform.silent
    try:
        done = done or traffic.send(platform.gateway_url, platform.model)
        silent.update(find_silent(platform, done, watching))
    except HarnessError:
        pass
    platform.silent = silent
    return silent


@pytest.fixture(autouse=True)
def _silent_components(request):
    """Every e2e test on a platform knows, before it starts, which components are silent."""
    if "platform" in request.fixturenames:
        request.getfixturevalue("silent_components")


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
