"""Errors a person can act on. Each says what went wrong and names the fix in one line."""
from __future__ import annotations


class HarnessError(Exception):
    """Base for every error the harness expects; the CLI and pytest print it without a traceback."""


class ToolMissing(HarnessError):
    pass


class ConfigError(HarnessError):
    pass


class StartupError(HarnessError):
    """A component did not come up. Carries the tail of its log."""

    def __init__(self, component: str, reason: str, log_path: str | None = None, log_tail: str = ""):
        self.component, self.reason, self.log_path, self.log_tail = component, reason, log_path, log_tail
        where = f" (log: {log_path})" if log_path else ""
        tail = f"\n--- last lines of {component}'s log ---\n{log_tail}" if log_tail else ""
        super().__init__(f"{component} failed to start: {reason}{where}{tail}")


class WaitTimeout(HarnessError):
    """An explicit wait ran out of time; the message names what it waited for and the last state seen."""

    def __init__(self, what: str, timeout_s: float, last_state: str):
        self.what, self.timeout_s, self.last_state = what, timeout_s, last_state
        super().__init__(f"timed out after {timeout_s:g}s waiting for {what}; last state: {last_state}")
