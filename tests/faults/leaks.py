"""Proof that nothing outlives a test: no process, temporary folder or listening port that the
harness created during it remains afterwards.

How it knows what the harness created, even after a parent died and its children were
re-parented away from this process tree:
- every process started inside the guard inherits a unique environment tag (the harness's
  components inherit the environment), so a survivor is found by its tag wherever it is;
- a sampler lists this process's tree (and the tagged processes) while the guard is open, with
  their listening ports: the "before" picture; after the block, the same list must be gone;
- TMPDIR (and Python's tempfile) point at a private folder that must be empty afterwards (a
  short path in the system's temp folder: vLLM's IPC socket paths must fit in 107 bytes);
- shared memory (/dev/shm, where torch and multiprocessing keep segments) that a watched
  process mapped must be gone too.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil

from llmd_trace_e2e.runtime.shm import shared_memory

TAG_VAR = "LLMD_TRACE_E2E_LEAK_TAG"


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    created: float
    name: str
    cmdline: str

    @classmethod
    def of(cls, proc: psutil.Process) -> "ProcInfo | None":
        try:
            with proc.oneshot():
                return cls(proc.pid, proc.create_time(), proc.name(), " ".join(proc.cmdline())[:160])
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return None

    def alive(self) -> bool:
        try:
            proc = psutil.Process(self.pid)
            return proc.create_time() == self.created and proc.status() != psutil.STATUS_ZOMBIE
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return False

    def __str__(self) -> str:
        return f"pid {self.pid} {self.name}: {self.cmdline}"


def descendants(root: int | None = None) -> dict[tuple[int, float], ProcInfo]:
    try:
        children = psutil.Process(root or os.getpid()).children(recursive=True)
    except psutil.NoSuchProcess:
        return {}
    infos = (ProcInfo.of(c) for c in children)
    return {(i.pid, i.created): i for i in infos if i is not None}


def tagged(tag: str) -> dict[tuple[int, float], ProcInfo]:
    """Every live process (anywhere on the machine) that carries the tag in its environment."""
    found = {}
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(TAG_VAR) == tag and proc.status() != psutil.STATUS_ZOMBIE:
                info = ProcInfo.of(proc)
                if info:
                    found[(info.pid, info.created)] = info
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            continue
    return found


def _shm_entries() -> set[str]:
    try:
        return {f"/dev/shm/{name}" for name in os.listdir("/dev/shm")}
    except OSError:
        return set()


def listening(pids: set[int] | None = None) -> dict[int, int | None]:
    """port -> pid of the TCP sockets in LISTEN (only those of `pids`, if given)."""
    out = {}
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and (pids is None or conn.pid in pids):
            out[conn.laddr.port] = conn.pid
    return out


class LeakGuard:
    """Open around a test (or a subprocess run); `problems()` after it lists every leak."""

    def __init__(self, interval_s: float = 0.25, root_pid: int | None = None):
        self.tag = uuid.uuid4().hex
        self.tmp = Path(tempfile.mkdtemp(prefix="leakguard-"))
        self.interval_s = interval_s
        self.root_pid = root_pid or os.getpid()
        self.before: dict[tuple[int, float], ProcInfo] = {}
        self.seen: dict[tuple[int, float], ProcInfo] = {}
        self.ports: dict[int, ProcInfo] = {}  # port -> the process seen listening on it
        self.shm: dict[str, ProcInfo] = {}  # /dev/shm file -> the process seen holding it
        self.shm_before: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_loop, name="leak-guard", daemon=True)
        self._saved_env: dict[str, str | None] = {}
        self._saved_tempdir: str | None = None

    # --- the environment a child needs to be recognised -------------------------------------

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ if base is None else base)
        env.update({TAG_VAR: self.tag, "TMPDIR": str(self.tmp)})
        return env

    def __enter__(self) -> "LeakGuard":
        self.before = descendants(self.root_pid)
        self.shm_before = _shm_entries()
        for key, value in ((TAG_VAR, self.tag), ("TMPDIR", str(self.tmp))):
            self._saved_env[key] = os.environ.get(key)
            os.environ[key] = value
        self._saved_tempdir, tempfile.tempdir = tempfile.tempdir, str(self.tmp)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        tempfile.tempdir = self._saved_tempdir

    def sample(self) -> None:
        now = {**descendants(self.root_pid), **tagged(self.tag)}
        fresh = {k: v for k, v in now.items() if k not in self.before}
        self.seen.update(fresh)
        by_pid = {info.pid: info for info in fresh.values()}
        if by_pid:
            for port, pid in listening(set(by_pid)).items():
                self.ports.setdefault(port, by_pid[pid])
            for pid, info in by_pid.items():
                for path in shared_memory(pid):
                    self.shm.setdefault(path, info)

    def _sample_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sample()
            except Exception:  # noqa: BLE001 - a process vanishing mid-listing is normal
                pass
            self._stop.wait(self.interval_s)

    # --- the verdict ---------------------------------------------------------------------------

    def survivors(self) -> list[ProcInfo]:
        left = {k: v for k, v in self.seen.items() if v.alive()}
        left.update({k: v for k, v in tagged(self.tag).items() if k not in self.before})
        return sorted(left.values(), key=lambda i: i.pid)

    def problems(self, grace_s: float = 5.0) -> list[str]:
        """Leaks after the block; waits up to `grace_s` for processes already dying."""
        deadline = time.monotonic() + grace_s
        while self.survivors() and time.monotonic() < deadline:
            time.sleep(0.2)
        out = [f"process still running: {p}" for p in self.survivors()]
        alive_pids = {p.pid for p in self.survivors()}
        for port, pid in listening().items():
            if port in self.ports and (pid is None or pid in alive_pids):
                out.append(f"port {port} still listening (opened by {self.ports[port]})")
        if self.tmp.exists():
            out += [f"temporary file or folder left behind: {entry}" for entry in sorted(self.tmp.iterdir())]
        out += [f"shared memory left behind: {path} (held by {info})"
                for path, info in sorted(self.shm.items()) if os.path.exists(path)]
        return out

    def unattributed_shm(self) -> list[str]:
        """/dev/shm files that appeared while the guard was open, that no watched process was
        seen holding and that remain: another process's on a shared machine, or one of ours
        made and orphaned between two samples. Reported, not failed on."""
        return sorted(_shm_entries() - self.shm_before - set(self.shm))

    def inventory(self) -> str:
        """The processes seen while the guard was open, with their ports (for messages)."""
        ports: dict[int, list[int]] = {}
        for port, info in self.ports.items():
            ports.setdefault(info.pid, []).append(port)
        lines = [f"  {info}" + (f"  [listening: {', '.join(map(str, sorted(ports[info.pid])))}]"
                                if info.pid in ports else "")
                 for info in sorted(self.seen.values(), key=lambda i: i.created)]
        return "\n".join(lines) or "  (none)"

    def assert_clean(self, grace_s: float = 5.0) -> None:
        """Fail listing every leak; the private temp folder is removed either way."""
        try:
            found = self.problems(grace_s)
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
        assert not found, ("leaked after the test:\n  " + "\n  ".join(found)
                           + f"\nprocesses seen during it:\n{self.inventory()}")
