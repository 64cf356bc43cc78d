"""Processes the harness starts: each has an owner that ends it, on success, failure or signal.

Every child runs in its own session (so a terminal's Ctrl-C reaches the harness, which then
stops children in order) and dies with the harness if the harness is killed outright
(PR_SET_PDEATHSIG). Output goes to a log file in the artifacts folder.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Mapping, Sequence, TypeVar

from llmd_trace_e2e.runtime.errors import HarnessError, StartupError
from llmd_trace_e2e.runtime.shm import group_members, group_shared_memory, is_cleaner, remove_shared_memory
from llmd_trace_e2e.runtime.waits import Pending, WaitStats, wait_for

T = TypeVar("T")
_PR_SET_PDEATHSIG = 1
GROUP_EXIT_S = 3.0  # after the leader has exited, how long the rest of its group may take to follow


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        with open(path, errors="replace") as fh:
            return "".join(deque(fh, maxlen=lines)).rstrip()
    except OSError:
        return ""


def component_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The harness's environment less any OTEL_* setting (a component's tracing must come from
    the values under test, never from the shell that ran the harness), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(extra)
    return env


@dataclass
class ProcessSpec:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)  # added to the inherited environment
    cwd: Path | None = None
    # The grace period at stop while the process has not yet been seen ready, where shorter than
    # stop()'s: a process that never served has nothing to finish.
    unready_grace_s: float | None = None
    # Written above the command line in its log: each flag the harness changed from the render, and why.
    notes: Sequence[str] = ()


class ManagedProcess:
    def __init__(self, spec: ProcessSpec, log_path: Path):
        self.spec = spec
        self.log_path = log_path
        self._popen: subprocess.Popen | None = None
        self.started_at = 0.0
        self.ready = False  # a wait_ready() has seen it ready

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    def start(self) -> "ManagedProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        argv = [str(a) for a in self.spec.argv]
        with open(self.log_path, "ab") as log:
            log.write("".join(f"# {note}\n" for note in self.spec.notes).encode())
            log.write(f"$ {' '.join(argv)}\n".encode())
            log.flush()
            try:
                self._popen = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=component_env(self.spec.env),
                    cwd=self.spec.cwd,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
            except OSError as exc:
                raise StartupError(self.name, f"cannot execute {argv[0]}: {exc.strerror}", str(self.log_path)) from None
        self.started_at = time.monotonic()
        return self

    def exit_code(self) -> int | None:
        return self._popen.poll() if self._popen else None

    def describe_exit(self) -> str:
        """'running', 'exited with code N' or 'killed by SIGNAME', for messages."""
        code = self.exit_code()
        if self._popen is None:
            return "never started"
        if code is None:
            return "running"
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exited with code {code}"

    def alive(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        return log_tail(self.log_path, lines)

    def check_alive(self) -> None:
        """Raise StartupError with the log tail if the process has exited."""
        code = self.exit_code()
        if self._popen is not None and code is not None:
            raise StartupError(self.name, f"exited with code {code}", str(self.log_path), self.tail())

    def wait_ready(self, what: str, probe: Callable[[], T | Pending | None], timeout_s: float,
                   stats: WaitStats | None = None) -> T:
        def guarded():
            self.check_alive()
            return probe()

        try:
            result = wait_for(f"{self.name} to be ready ({what})", guarded, timeout_s, stats=stats)
            self.ready = True
            return result
        except HarnessError as err:
            if isinstance(err, StartupError):
                raise
            raise StartupError(self.name, str(err), str(self.log_path), self.tail()) from None

    def stop(self, grace_s: float = 10.0) -> int | None:
        """SIGTERM the process group, SIGKILL after the grace period; returns the exit code.
        Shared memory the group held is removed once the group is gone."""
        if self._popen is None:
            return None
        held = group_shared_memory(self._popen.pid)
        if not self.ready and self.spec.unready_grace_s is not None:
            grace_s = min(grace_s, self.spec.unready_grace_s)
        if self._popen.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self._popen.wait(grace_s)
                # Its helpers finish their own exit: multiprocessing's resource tracker unlinks the
                # shared memory it tracked only then (killed sooner, it left sem.mp-* files behind).
                self._wait_group_gone(GROUP_EXIT_S)
            except subprocess.TimeoutExpired:
                held |= group_shared_memory(self._popen.pid)
                self._kill_all_but_cleaners()
        # Grandchildren (vLLM's engine core, say) may outlive their parent: end the group.
        held |= group_shared_memory(self._popen.pid)
        self._signal_group(signal.SIGKILL)
        remove_shared_memory(held)
        return self._popen.returncode

    def kill(self) -> None:
        """Abrupt death, for fault injection."""
        if self._popen:
            held = group_shared_memory(self._popen.pid)
            self._kill_all_but_cleaners()
            self._signal_group(signal.SIGKILL)
            remove_shared_memory(held)

    def _kill_all_but_cleaners(self) -> None:
        """SIGKILL the group but for multiprocessing's resource tracker, which then unlinks the
        semaphores and segments it tracked (no process maps them, so no snapshot finds them)."""
        for pid in group_members(self._popen.pid):
            if not is_cleaner(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self._popen.wait(5)
        self._wait_group_gone(GROUP_EXIT_S)

    def _wait_group_gone(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while group_members(self._popen.pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self._popen.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


@dataclass(frozen=True)
class ProcessEvent:
    """Something that happened to a process outside the normal start/stop, for diagnoses."""

    name: str
    at: datetime
    what: str


class Supervisor:
    """Owns every process of a stack and stops them in reverse start order."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.processes: list[ManagedProcess] = []
        self.history: list[ProcessEvent] = []

    def start(self, spec: ProcessSpec) -> ManagedProcess:
        proc = ManagedProcess(spec, self.log_dir / f"{spec.name}.log")
        self.processes.append(proc)
        return proc.start()

    def stop(self, proc: ManagedProcess) -> None:
        proc.stop()
        if proc in self.processes:
            self.processes.remove(proc)

    def restart(self, proc: ManagedProcess, grace_s: float = 10.0) -> ManagedProcess:
        """Stop `proc` if it still runs and start its spec again (same log, appended), in the same
        place of the stop order. Recorded in `history` with how the previous process ended."""
        before = proc.describe_exit()
        proc.stop(grace_s)
        ended = "stopped for the restart" if before == "running" else before
        fresh = ManagedProcess(proc.spec, proc.log_path)
        if proc in self.processes:
            self.processes[self.processes.index(proc)] = fresh
        else:
            self.processes.append(fresh)
        fresh.start()
        self.history.append(ProcessEvent(proc.name, datetime.now(timezone.utc),
                                         f"restarted (previous process: {ended})"))
        return fresh

    def stop_all(self) -> None:
        """Stop every process, newest first. An interrupt (a second Ctrl-C) in the middle still
        ends this process and the rest; it is raised once all are gone."""
        first: BaseException | None = None
        for proc in reversed(self.processes):
            try:
                proc.stop()
            except BaseException as exc:  # noqa: BLE001 - re-raised below, after the rest
                proc.kill()
                first = first or exc
        self.processes.clear()
        if first is not None:
            raise first

    def __enter__(self) -> "Supervisor":
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()


def terminate_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so `finally` blocks and fixture teardown stop children."""

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
