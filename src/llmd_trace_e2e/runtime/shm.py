"""Shared memory (/dev/shm) that a process group holds, so that stopping the group can remove it.

torch and Python's multiprocessing keep segments and named semaphores there; their owners
unlink them at a clean exit, but a group killed mid-start (vLLM's engine core during set-up)
leaves them behind, where they outlive the run and fill a small tmpfs.
"""
from __future__ import annotations

import os

SHM_DIR = "/dev/shm/"


def shared_memory(pid: int) -> set[str]:
    """The /dev/shm files a process maps or holds open."""
    found = set()
    try:
        with open(f"/proc/{pid}/maps") as fh:
            for line in fh:
                if SHM_DIR in line:
                    found.add(line.split(None, 5)[-1].strip().removesuffix(" (deleted)"))
        for fd in os.listdir(f"/proc/{pid}/fd"):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith(SHM_DIR):
                found.add(target.removesuffix(" (deleted)"))
    except OSError:
        pass
    return found


def group_members(pgid: int) -> list[int]:
    """The live processes of a process group (zombies are not)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its ')'
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry))
    return members


def is_cleaner(pid: int) -> bool:
    """Whether the process is Python multiprocessing's resource tracker: it maps none of the
    shared memory it tracks, and unlinks it once every process it serves has gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return b"multiprocessing.resource_tracker" in fh.read()
    except OSError:
        return False


def group_shared_memory(pgid: int) -> set[str]:
    return {path for pid in group_members(pgid) for path in shared_memory(pid)}


def remove_shared_memory(paths: set[str]) -> list[str]:
    """Unlink those of `paths` that still exist; returns the ones removed."""
    removed = []
    for path in sorted(paths):
        try:
            os.unlink(path)
            removed.append(path)
        except OSError:
            pass  # gone already (its owner unlinked it at exit), or not ours to remove
    return removed
