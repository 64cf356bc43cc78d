import time

import pytest

from llmd_trace_e2e.runtime.errors import StartupError, WaitTimeout
from llmd_trace_e2e.runtime.waits import Pending, WaitStats, wait_for


def test_timeout_names_what_and_last_state():
    with pytest.raises(WaitTimeout) as info:
        wait_for("the answer", lambda: Pending("replicas 1/2"), 0.3)
    assert str(info.value) == "timed out after 0.3s waiting for the answer; last state: replicas 1/2"


def test_transient_exceptions_become_the_state():
    def probe():
        raise ConnectionError("refused")
    with pytest.raises(WaitTimeout, match="last state: ConnectionError: refused"):
        wait_for("x", probe, 0.2)


def test_harness_errors_fail_at_once():
    start = time.monotonic()
    with pytest.raises(StartupError):
        wait_for("x", lambda: (_ for _ in ()).throw(StartupError("vllm", "exited with code 1")), 30)
    assert time.monotonic() - start < 5


def test_returns_result_and_counts_polls():
    values = iter([None, Pending("a"), "done"])
    stats = WaitStats()
    assert wait_for("x", lambda: next(values), 5, stats=stats) == "done"
    assert stats.polls == 3
