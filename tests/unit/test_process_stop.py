"""Stopping a process group: the shared memory it held is removed (a group killed mid-start, as
vLLM's engine core during set-up, cannot unlink its own /dev/shm segments), the helpers of a
leader that exited get to finish their own clean-up, and a process that was never ready gets
its shorter grace period."""
from __future__ import annotations

import os
import signal
import sys
import textwrap
import time
import uuid

import pytest

from llmd_trace_e2e.runtime.procs import ManagedProcess, ProcessSpec
from llmd_trace_e2e.runtime.shm import group_members, group_shared_memory, is_cleaner

pytestmark = pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="no /dev/shm on this machine")

# A child that maps a /dev/shm file, ignores SIGTERM (so only SIGKILL ends it, as a hung
# engine core) and starts a grandchild holding a second file (grandchildren outlive parents).
HOLDER = textwrap.dedent("""
    import mmap, os, signal, subprocess, sys, time
    def hold(path):
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        os.ftruncate(fd, 4096)
        return mmap.mmap(fd, 4096)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    held = hold(sys.argv[1])
    if len(sys.argv) > 2:
        subprocess.Popen([sys.executable, "-c", sys.argv[3], sys.argv[2]])
    time.sleep(600)
""")


def _wait_until(condition, what: str, proc: ManagedProcess) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert proc.alive(), f"{proc.name} died: {proc.tail()}"
        assert time.monotonic() < deadline, f"{proc.name} never {what}: {proc.tail()}"
        time.sleep(0.05)


def _wait_held(proc: ManagedProcess, paths: set[str]) -> None:
    _wait_until(lambda: paths <= group_shared_memory(proc.pid), f"mapped {paths}", proc)


def test_stop_removes_what_a_killed_group_held(tmp_path):
    child, grandchild = (f"/dev/shm/llmd-trace-e2e-test-{uuid.uuid4().hex}" for _ in range(2))
    proc = ManagedProcess(ProcessSpec("holder", [sys.executable, "-c", HOLDER, child, grandchild, HOLDER]),
                          tmp_path / "holder.log").start()
    try:
        _wait_held(proc, {child, grandchild})  # the positive control: both files exist and are held
        proc.stop(grace_s=0.5)
        left = [p for p in (child, grandchild) if os.path.exists(p)]
        assert not left, f"shared memory left after the group was stopped: {left}"
    finally:
        proc.kill()
        for path in (child, grandchild):
            if os.path.exists(path):
                os.unlink(path)


def test_files_the_group_did_not_hold_stay(tmp_path):
    other = f"/dev/shm/llmd-trace-e2e-test-{uuid.uuid4().hex}"
    open(other, "w").close()
    mine = f"/dev/shm/llmd-trace-e2e-test-{uuid.uuid4().hex}"
    proc = ManagedProcess(ProcessSpec("holder", [sys.executable, "-c", HOLDER, mine]), tmp_path / "holder.log").start()
    try:
        _wait_held(proc, {mine})
        proc.stop(grace_s=0.5)
        assert os.path.exists(other), "stop removed a /dev/shm file its group never held"
        assert not os.path.exists(mine)
    finally:
        proc.kill()
        for path in (other, mine):
            if os.path.exists(path):
                os.unlink(path)


@pytest.mark.timeout(60)
def test_a_process_never_ready_gets_its_shorter_grace(tmp_path):
    """It ignores SIGTERM (as vLLM starting up does): stop() with a 600 s grace must still end it
    soon, by SIGKILL after unready_grace_s; a hang here is the pytest timeout."""
    held = f"/dev/shm/llmd-trace-e2e-test-{uuid.uuid4().hex}"
    proc = ManagedProcess(ProcessSpec("deaf", [sys.executable, "-c", HOLDER, held], unready_grace_s=0.2),
                          tmp_path / "deaf.log").start()
    _wait_held(proc, {held})  # it maps the file after it has set SIGTERM aside
    assert not proc.ready
    assert proc.stop(grace_s=600) == -signal.SIGKILL
    assert not os.path.exists(held)


# A leader that exits on SIGTERM, and a helper in its group that, like multiprocessing's resource
# tracker, unlinks a file it does not map only after the leader is gone.
TRACKER = textwrap.dedent("""
    import os, signal, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    path, leader = sys.argv[1], os.getppid()
    open(path, "w").close()
    while os.getppid() == leader:
        time.sleep(0.02)
    time.sleep(0.3)
    os.unlink(path)
""")
LEADER = textwrap.dedent("""
    import subprocess, sys, time
    subprocess.Popen([sys.executable, "-c", sys.argv[2], sys.argv[1]])
    time.sleep(600)
""")


def test_a_leaders_helpers_finish_their_clean_up(tmp_path):
    tracked = f"/dev/shm/llmd-trace-e2e-test-{uuid.uuid4().hex}"
    proc = ManagedProcess(ProcessSpec("leader", [sys.executable, "-c", LEADER, tracked, TRACKER]),
                          tmp_path / "leader.log").start()
    try:
        _wait_until(lambda: os.path.exists(tracked), f"made {tracked}", proc)  # the positive control
        proc.stop()
        assert not os.path.exists(tracked), "the helper was killed before its clean-up: its file is left"
    finally:
        proc.kill()
        if os.path.exists(tracked):
            os.unlink(tracked)


# A leader that ignores SIGTERM (so only SIGKILL ends it) and has registered a semaphore with
# multiprocessing's resource tracker, the process that unlinks it once every client has gone.
TRACKED_LEADER = textwrap.dedent("""
    import signal, sys, time
    from multiprocessing import resource_tracker
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    open(f"/dev/shm/sem.{sys.argv[1]}", "w").close()
    resource_tracker.register(f"/{sys.argv[1]}", "semaphore")
    open(sys.argv[2], "w").close()  # registered: the tracker has it in its pipe
    time.sleep(600)
""")


def test_a_killed_group_leaves_its_resource_tracker_to_clean_up(tmp_path):
    name = f"llmd-trace-e2e-test-{uuid.uuid4().hex}"
    tracked = f"/dev/shm/sem.{name}"
    registered = tmp_path / "registered"
    proc = ManagedProcess(ProcessSpec("tracked", [sys.executable, "-c", TRACKED_LEADER, name, registered]),
                          tmp_path / "tracked.log").start()
    try:
        _wait_until(registered.exists, "registered its semaphore", proc)
        # The positive control: the file exists and the tracker runs in the group.
        assert os.path.exists(tracked) and any(is_cleaner(pid) for pid in group_members(proc.pid))
        proc.stop(grace_s=0.3)
        assert not os.path.exists(tracked), "the resource tracker was killed with the group: its semaphore is left"
    finally:
        proc.kill()
        if os.path.exists(tracked):
            os.unlink(tracked)
