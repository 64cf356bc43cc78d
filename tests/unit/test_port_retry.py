"""Which start-up failures make the local platform pick new ports and start the EPP and the
gateway again: only a port taken between picking it and binding it."""
from __future__ import annotations

import pytest

from llmd_trace_e2e.runtime.errors import StartupError
from llmd_trace_e2e.platforms.local.platform import port_taken


@pytest.mark.parametrize("reason, tail", [
    ("exited with code 1", 'setup failed: listen tcp :9002: bind: address already in use'),  # Go (the EPP)
    ("exited with code 1", "OSError: [Errno 98] Address already in use"),  # Python (the gateway)
    ("port 9002: Address already in use", ""),
])
def test_a_taken_port_is_retried(reason, tail):
    assert port_taken(StartupError("epp", reason, log_tail=tail))


@pytest.mark.parametrize("reason, tail", [
    ("exited with code 1", "error validating flags: --pool-name is required"),
    ("timed out after 60s waiting for the EPP's health port", "connection refused"),
])
def test_any_other_failure_is_not(reason, tail):
    assert not port_taken(StartupError("epp", reason, log_tail=tail))
