"""Phase `speed`: issue 14's numbers, measured now, beside those measured before its changes.
Each suite run is a pytest process started as a developer starts it (after `make setup-local`),
timed from outside; the platform's own timings come from the run's summary.md.

  vLLM's start, step by step (bench/startup.py): as now, and as before (no bytecode, no cache)
  fresh local verdict: `pytest e2e --platform local -m "not variant"` (make e2e-local's suite)
  re-run against a kept stack: `llmd-trace-e2e local up`, the same suite with --attach (--kept-runs), down
  whole make test (optional, --make-test: about 6-10 minutes): `pytest tests e2e --platform local`
  cold set-up: not re-measured (it would wipe caches other runs share): the numbers measured
  before, plus the two new steps as set-up recorded them
"""
from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

from llmd_trace_e2e.runtime.paths import repo_root
from llmd_trace_e2e.commands.bench.log import log
from llmd_trace_e2e.commands.bench.results import SpeedPhase, SuiteRun
from llmd_trace_e2e.commands.bench.startup import vllm_start

# Measured on this kind of machine (2 cores, shared) before issue 14's changes.
BEFORE = {
    "fresh_verdict_s": 78.6,
    "vllm_start_s": "63-76",
    "kept_stack_s": None,  # no kept stack then
    "make_test_s": 600.0,  # "about 10 minutes", 210 tests, the variants restarting vLLM three times
    "cold_setup_s": {"harness venv": 10.0, "Go tools (sequential, busy machine)": 1567.0, "vLLM venv": 54.0,
                     "tiny model": 42.0},
}
VERDICT_ARGS = ("e2e", "--platform", "local", "-m", "not variant")
MAKE_TEST_ARGS = ("tests", "e2e", "--platform", "local")
_STACK_LINE = re.compile(r"stack ready after: (.+)")
_TIMING = re.compile(r"(.+?) ([0-9.]+) s$")


def stack_timings(summary: str) -> dict[str, float]:
    """The platform's timings from a summary.md ("stack ready after: control plane ready 8.0 s, ...")."""
    found = _STACK_LINE.search(summary)
    if not found:
        return {}
    timings = {}
    for part in found.group(1).split(", "):
        m = _TIMING.match(part.strip())
        if m:
            timings[m.group(1)] = float(m.group(2))
    return timings


def suite_run(what: str, args: tuple[str, ...], artifacts: Path) -> SuiteRun:
    command = [sys.executable, "-m", "pytest", *args, "--artifacts", str(artifacts), "-q", "-p", "no:cacheprovider"]
    log(f"speed: {what}: {' '.join(command[2:])}")
    t0 = time.monotonic()
    proc = subprocess.run(command, cwd=repo_root(), capture_output=True, text=True)
    wall = round(time.monotonic() - t0, 2)
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "console.txt").write_text(proc.stdout + proc.stderr)
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    summary = artifacts / "summary.md"
    run = SuiteRun(what, command[2:], wall, proc.returncode, lines[-1] if lines else proc.stderr.strip()[-200:],
                   stack_timings(summary.read_text()) if summary.exists() else {})
    log(f"  {wall} s, exit {proc.returncode}: {run.outcome}")
    return run


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmd_trace_e2e.commands.cli", *args], cwd=repo_root(),
                          capture_output=True, text=True)


def kept_stack_runs(folder: Path, notes: list[str], runs: int = 1) -> list[SuiteRun]:
    stack = folder / "kept-stack"
    up = _cli("local", "up", "--artifacts", str(stack))
    if up.returncode != 0:
        notes.append("re-run against a kept stack not measured: `llmd-trace-e2e local up` failed: "
                     + (up.stderr or up.stdout).strip()[-300:])
        return []
    try:
        return [suite_run(f"re-run against a kept stack ({i})", (*VERDICT_ARGS, "--attach"), stack)
                for i in range(1, runs + 1)]
    finally:
        _cli("local", "down", "--artifacts", str(stack))


def recorded_setup_s(stamp: Path) -> float | None:
    """A set-up step's seconds, as it recorded them in its stamp."""
    try:
        return float(stamp.read_text().strip())
    except (OSError, ValueError):
        return None


def speed_phase(folder: Path, fresh_runs: int = 1, make_test: bool = False, as_before: bool = True,
                kept_runs: int = 1) -> SpeedPhase:
    notes: list[str] = []
    starts = [vllm_start(folder, "now")]
    if as_before:
        starts.append(vllm_start(folder, "as before", as_before=True))
    for run in starts:
        log(f"speed: vLLM alone ({run.label}): ready after {run.ready_s} s; {run.marks}")
    fresh = [suite_run(f"fresh local verdict ({i + 1})", VERDICT_ARGS, folder / f"fresh-{i + 1}")
             for i in range(fresh_runs)]
    kept = kept_stack_runs(folder, notes, kept_runs) if kept_runs else []
    whole = suite_run("make test (its pytest run, set-up done)", MAKE_TEST_ARGS, folder / "make-test") \
        if make_test else None
    if not make_test:
        notes.append("make test not timed here (pass --make-test: it takes 6-10 minutes)")
    from llmd_trace_e2e.platforms.local.assets import vllm_cache_seed, vllm_env_dir

    # The steps measured before are not re-measured here (that would wipe caches other runs share).
    cold = {**{step: None for step in BEFORE["cold_setup_s"]},
            "vLLM bytecode (new)": recorded_setup_s(vllm_env_dir() / ".bytecode"),
            "vLLM model inspection (new)": recorded_setup_s(vllm_cache_seed() / ".complete")}
    notes.append("cold set-up not re-measured here: time `make setup` on empty caches (about 12 minutes on "
                 "2 cores in December 2026, the Go builds and the vLLM venv in parallel)")
    return SpeedPhase(BEFORE, starts, fresh, kept, whole, cold, notes)
