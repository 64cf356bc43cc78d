"""`llmd-trace-e2e soak --runs N`: the local-platform suite N times in a row, each run in its
own artifacts subfolder, then one table: passes, failures and each failure's reason (from the
run's JUnit XML, so a reason is the assertion's first line, not a guess from the console).

A run that crashes before writing its report (set-up failure, timeout, signal) still counts,
with the harness's error line and the console's last line as the reason. The soak stops early
only on Ctrl-C or SIGTERM, after stopping the run in progress with SIGTERM (which the pytest
plugin turns into an orderly stop of everything the run started; SIGINT would be ignored by a
run started from a background job).
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.runtime.paths import repo_root
from llmd_trace_e2e.traces.render import markdown_table

RUN_TIMEOUT_S = 30 * 60.0  # one run takes ~4 minutes; a hung run must not hang the soak
STOP_GRACE_S = 90.0  # after SIGTERM, for a run to stop what it started
REASON_CHARS = 300


@dataclass(frozen=True)
class TestFailure:
    test: str
    kind: str  # "failure" or "error"
    reason: str


@dataclass
class RunResult:
    number: int
    folder: Path
    seconds: float
    exit_code: int
    tests: int = 0
    passed: int = 0
    skipped: int = 0
    failures: list[TestFailure] = field(default_factory=list)
    crash: str = ""  # when there is no JUnit report: the console's last lines

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.failures and not self.crash

    def summary(self) -> str:
        if self.crash:
            return f"no report (exit {self.exit_code}): {self.crash}"
        if self.ok:
            return f"{self.passed} passed, {self.skipped} skipped/xfailed"
        return f"{len(self.failures)} failed (exit {self.exit_code})"


def first_line(text: str) -> str:
    for line in (text or "").splitlines():
        line = line.strip()
        if line:
            return line[:REASON_CHARS]
    return ""


def crash_reason(console: str) -> str:
    """Why a run ended without a failing test: the harness's own one-line error (pytest.exit
    prints it as `! _pytest.outcomes.Exit: llmd-trace-e2e: ...`), and the console's last line."""
    lines = [ln.strip().strip("!").strip() for ln in console.splitlines() if ln.strip().strip("!").strip()]
    if not lines:
        return "no output"
    head = next((ln for ln in lines if "llmd-trace-e2e:" in ln), "")
    head = head.split("Exit: ", 1)[-1] if "Exit: " in head else head
    last = lines[-1]
    text = f"{head} ... {last}" if head and last not in head else (head or last)
    return text[:2 * REASON_CHARS]


def parse_junit(path: Path) -> tuple[int, int, int, list[TestFailure]]:
    """(tests, passed, skipped, failures) from a pytest JUnit XML report."""
    root = ET.parse(path).getroot()
    tests = passed = skipped = 0
    failures = []
    for case in root.iter("testcase"):
        tests += 1
        name = f"{case.get('classname', '')}::{case.get('name', '')}".lstrip(":")
        bad = next((child for child in case if child.tag in ("failure", "error")), None)
        if bad is not None:
            reason = first_line(bad.get("message", "")) or first_line(bad.text or "")
            failures.append(TestFailure(name, bad.tag, reason))
        elif case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1
    return tests, passed, skipped, failures


def run_once(number: int, folder: Path, pytest_args: list[str], timeout_s: float) -> RunResult:
    folder.mkdir(parents=True, exist_ok=True)
    junit = folder / "junit.xml"
    argv = [sys.executable, "-m", "pytest", "e2e", "--platform", "local", "--artifacts", str(folder),
            f"--junitxml={junit}", "-p", "no:cacheprovider", *pytest_args]
    console = folder / "console.log"
    start = time.monotonic()
    with open(console, "w") as out:
        proc = subprocess.Popen(argv, cwd=repo_root(), stdout=out, stderr=subprocess.STDOUT)
        try:
            code = proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            stop(proc)
            return RunResult(number, folder, time.monotonic() - start, -1,
                             crash=f"timed out after {timeout_s:g}s (console: {console})")
        except BaseException:  # the soak itself is interrupted: stop the run, let it clean up
            stop(proc)
            raise
    result = RunResult(number, folder, time.monotonic() - start, code)
    try:
        result.tests, result.passed, result.skipped, result.failures = parse_junit(junit)
    except (OSError, ET.ParseError):
        pass
    if code != 0 and not result.failures:
        result.crash = f"{crash_reason(console.read_text(errors='replace'))} (console: {console})"
    return result


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the run (its teardown stops what it started), SIGKILL it after STOP_GRACE_S."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def report(results: list[RunResult], runs_asked: int) -> str:
    passed = sum(r.ok for r in results)
    lines = [f"soak: {passed} of {len(results)} run(s) passed"
             + (f" ({runs_asked - len(results)} not run: interrupted)" if len(results) < runs_asked else ""), "",
             markdown_table(("run", "verdict", "minutes", "tests", "result", "artifacts"),
                            ((r.number, "pass" if r.ok else "FAIL", f"{r.seconds / 60:.1f}", r.tests, r.summary(),
                              r.folder) for r in results))]
    reasons = [(r.number, f.test, f.kind, f.reason) for r in results for f in r.failures]
    reasons += [(r.number, "(the run)", "crash", r.crash) for r in results if r.crash]
    if reasons:
        lines += ["", "failures and their reasons:", markdown_table(("run", "test", "kind", "reason"), reasons)]
        counts: dict[str, int] = {}
        for _, test, _, _ in reasons:
            counts[test] = counts.get(test, 0) + 1
        lines += ["", "failing tests, most frequent first:"]
        lines += [f"  {n}x {test}" for test, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmd-trace-e2e soak",
                                     description="Run the local-platform e2e suite N times and report every failure.")
    parser.add_argument("--runs", type=int, default=3, help="how many runs (default 3)")
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts") / "soak",
                        help="each run gets <artifacts>/<timestamp>/run-<n>/ (default artifacts/soak)")
    parser.add_argument("--run-timeout", type=float, default=RUN_TIMEOUT_S, metavar="S",
                        help=f"seconds before a run counts as hung and is stopped (default {RUN_TIMEOUT_S:g})")
    parser.add_argument("pytest_args", nargs="*", help="passed to each pytest run (after --)")
    return parser


def soak_main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.runs < 1:
        raise ConfigError(f"--runs {args.runs}: ask for at least one run")
    base = args.artifacts.resolve() / datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot write to the artifacts folder {args.artifacts} ({exc.strerror}): "
                          "pass --artifacts with a folder you can write to") from None
    results: list[RunResult] = []
    try:
        for number in range(1, args.runs + 1):
            print(f"soak: run {number} of {args.runs} ...", flush=True)
            result = run_once(number, base / f"run-{number}", list(args.pytest_args), args.run_timeout)
            results.append(result)
            print(f"soak: run {number}: {'pass' if result.ok else 'FAIL'} in {result.seconds / 60:.1f} min: "
                  f"{result.summary()}", flush=True)
            for failure in result.failures:
                print(f"        {failure.test}: {failure.reason}", flush=True)
    except (KeyboardInterrupt, SystemExit):  # Ctrl-C, or SIGTERM (the CLI makes it SystemExit)
        print("soak: interrupted; the run in progress was stopped", file=sys.stderr)
    text = report(results, args.runs)
    (base / "soak.md").write_text(text + "\n")
    print(text)
    print(f"\nreport: {base / 'soak.md'}")
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a") as summary:
            summary.write(f"## soak\n\n{text}\n")
    return 0 if results and len(results) == args.runs and all(r.ok for r in results) else 1
