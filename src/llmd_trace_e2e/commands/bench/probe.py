"""An independent probe: when did an awaited condition first hold? The polling and verdict
phases hold the harness's own waits against it."""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

from llmd_trace_e2e.traffic import completions as traffic


class FirstTrue(threading.Thread):
    """Polls `cond` every `interval_s` in the background and records the wall time it first held."""

    def __init__(self, cond: Callable[[], Any], interval_s: float = 0.05):
        super().__init__(daemon=True)
        self.cond, self.interval_s = cond, interval_s
        self.when: float | None = None
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                if self.cond():
                    self.when = time.time()
                    return
            except Exception:  # a transient query failure is "not yet"
                pass
            self._halt.wait(self.interval_s)

    def stop(self) -> float | None:
        self._halt.set()
        self.join(5)
        return self.when


def response_end(done: traffic.Completion) -> float:
    return done.started.timestamp() + done.seconds
