"""Explicit waits: a named timeout in seconds on a monotonic clock, backoff between polls,
and on timeout the last state seen.

A probe returns a truthy result when done, or a `Pending` saying what it sees now. A probe
that raises a `HarnessError` fails the wait at once (a process died: no point running out
the clock); any other exception is remembered as the state and polled again.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from tenacity import RetryError, Retrying, retry_if_exception_type, retry_if_result, stop_after_delay, wait_exponential

from llmd_trace_e2e.runtime.errors import HarnessError, WaitTimeout

T = TypeVar("T")


@dataclass(frozen=True)
class Pending:
    state: str

    def __bool__(self) -> bool:
        return False


class _Transient(Exception):
    pass


@dataclass
class WaitStats:
    """How a wait went: polls made and seconds spent, for the harness's own overhead report."""

    polls: int = 0
    seconds: float = 0.0


def wait_for(
    what: str,
    probe: Callable[[], T | Pending | None],
    timeout_s: float,
    *,
    first_interval_s: float = 0.05,
    max_interval_s: float = 1.0,
    stats: WaitStats | None = None,
) -> T:
    last_state = "not polled yet"
    start = time.monotonic()
    polls = 0

    def attempt():
        nonlocal last_state, polls
        polls += 1
        try:
            result = probe()
        except HarnessError:
            raise
        except Exception as exc:  # a transient failure is a state, not the verdict
            last_state = f"{type(exc).__name__}: {exc}"
            raise _Transient() from exc
        if not result:
            last_state = result.state if isinstance(result, Pending) else "no result"
        return result

    retrying = Retrying(
        stop=stop_after_delay(timeout_s),
        wait=wait_exponential(multiplier=first_interval_s, min=first_interval_s, max=max_interval_s),
        retry=retry_if_exception_type(_Transient) | retry_if_result(lambda r: not r),
        reraise=False,
    )
    try:
        return retrying(attempt)
    except RetryError:
        raise WaitTimeout(what, timeout_s, last_state) from None
    finally:
        if stats is not None:
            stats.polls += polls
            stats.seconds += time.monotonic() - start
