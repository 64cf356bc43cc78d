"""Nothing leaks when a run is interrupted while the local platform is being set up.

Each case runs `pytest` on a one-test suite that needs the local platform (exactly what
`pytest e2e --platform local` does first), sends SIGINT or SIGTERM during set-up, and then
proves, from the process tree listed while the run went on and from an environment tag every
child inherits, that no process it started survives; that its private TMPDIR (where the local
control plane keeps its credentials, and vLLM its IPC sockets) is empty; that no port it
listened on is still open; and
that no shared memory its processes held (vLLM's torch segments) is left in /dev/shm.

The moment is random (seeded: LLMD_TRACE_E2E_FAULT_SEED=<n> replays a run), within the set-up;
one more case waits for the worst moment, when every component, vLLM's engine core included,
is running but not ready. These start vLLM: they run one at a time, never beside another
local platform (the ordering in tests/faults/conftest.py keeps the session's platform after them).
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from llmd_trace_e2e.runtime.paths import repo_root
from tests.faults.leaks import LeakGuard, descendants

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]

ROOT = repo_root()
SEED = int(os.environ.get("LLMD_TRACE_E2E_FAULT_SEED") or random.SystemRandom().randrange(10**6))
SETUP_WINDOW_S = (2.0, 20.0)  # the local platform's set-up: 21-22 s on two idle cores (make test, Dec 2026)
STOP_S = 60.0  # from the signal to the run's exit: vLLM's grace period (10 s) plus the rest
WORST_MOMENT_S = 150.0  # how long to wait for the worst moment to come


def random_delay(case: str) -> float:
    return round(random.Random(f"{SEED}-{case}").uniform(*SETUP_WINDOW_S), 1)


@pytest.fixture
def suite(tmp_path) -> Path:
    """A one-test suite: its test needs the platform and then waits, so that a late signal
    still interrupts a run (the set-up, or at worst the test) rather than a finished one."""
    path = tmp_path / "suite" / "test_interrupted.py"
    path.parent.mkdir()
    path.write_text(
        "import time\nfrom pathlib import Path\n\n\n"
        "def test_interrupted(platform):\n"
        f"    Path({str(tmp_path / 'set-up-done')!r}).touch()\n"
        "    time.sleep(600)\n")
    return path


def started_so_far(artifacts: Path) -> str:
    logs = sorted(p.stem for p in artifacts.glob("local/*/*.log"))
    return ", ".join(logs) or "nothing yet"


@pytest.fixture
def guard():
    watching = LeakGuard()
    yield watching
    shutil.rmtree(watching.tmp, ignore_errors=True)  # also when the test failed before its verdict


def interrupt_run(guard: LeakGuard, suite: Path, tmp_path: Path, sig: signal.Signals, *,
                  after_s: float | None = None, when=None) -> str:
    """Start the run, signal it (after `after_s`, or once `when(guard)` is true), wait for it
    to exit; returns what happened, for messages. The artifacts path is deep on purpose
    (vLLM's IPC sockets must not live under it)."""
    artifacts = tmp_path / "artifacts"
    argv = [sys.executable, "-m", "pytest", str(suite), "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
            "-p", "no:cacheprovider", "--platform", "local", "--artifacts", str(artifacts), "-x", "-q"]
    with guard:
        # As from a terminal: Ctrl-C reaches the run even if this pytest was started as a background job.
        run = subprocess.Popen(argv, cwd=ROOT, env=guard.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            start = time.monotonic()
            if when is None:
                time.sleep(after_s)
            else:
                while not when(guard) and time.monotonic() - start < WORST_MOMENT_S and run.poll() is None:
                    time.sleep(0.2)
            assert run.poll() is None, f"the run ended before the signal:\n{run.stdout.read()}"
            guard.sample()
            at = time.monotonic() - start
            phase = ("during the test (set-up had finished)" if (tmp_path / "set-up-done").exists()
                     else f"during set-up; started so far: {started_so_far(artifacts)}")
            run.send_signal(sig)
            try:
                output, _ = run.communicate(timeout=STOP_S)
            except subprocess.TimeoutExpired:
                pytest.fail(f"the run did not stop within {STOP_S:g}s of {sig.name} ({phase})")
            took = time.monotonic() - start - at
        finally:
            if run.poll() is None:  # the test failed: do not leak the run itself
                for info in descendants(run.pid).values():
                    try:
                        psutil.Process(info.pid).kill()
                    except psutil.Error:
                        pass
                run.kill()
                run.wait()
    story = (f"{sig.name} after {at:.1f}s {phase} (seed {SEED}); the run exited {run.returncode} "
             f"{took:.1f}s later.\n--- its output ---\n{output[-3000:]}")
    return story


def assert_nothing_left(guard: LeakGuard, story: str) -> None:
    print(story)
    print(f"processes seen during the run:\n{guard.inventory()}")
    others = guard.unattributed_shm()
    if others:
        print(f"note: /dev/shm files that appeared meanwhile, held by no process of this run: {others}")
    assert guard.seen, "no process of the run was seen: the guard watched nothing"
    guard.assert_clean()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_at_a_random_moment_of_set_up(guard, suite, tmp_path, sig):
    story = interrupt_run(guard, suite, tmp_path, sig, after_s=random_delay(sig.name))
    assert_nothing_left(guard, story)


def _everything_running(guard: LeakGuard) -> bool:
    names = {info.name for info in guard.seen.values() if info.alive()}
    return "VLLM::EngineCore" in names and "epp" in names and "envoy" in names \
        and any(guard.tmp.glob("llmd-trace-e2e-kube-*"))


def test_interrupted_with_every_component_starting(guard, suite, tmp_path):
    """SIGTERM (a cancelled CI job) once vLLM's engine core, the control plane (its private
    credentials folder), the EPP and Envoy all exist: the widest tree to take down. The guard
    covers Envoy like the rest: its process, its listener and admin ports, any shared memory."""
    story = interrupt_run(guard, suite, tmp_path, signal.SIGTERM, when=_everything_running)
    assert "during set-up" in story, story
    assert_nothing_left(guard, story)
