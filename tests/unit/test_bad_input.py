"""Bad input, as a person meets it: `pytest ... --platform local` and `llmd-trace-e2e` run as
subprocesses. Each gives one clear line naming the fix and a non-zero exit, never a
traceback, and leaves nothing behind (each run is watched by a leak guard).

The pytest cases fail at collection, before any process starts, so they need no tools; the
last tests (a port held by another process) run the real collector and Jaeger.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from llmd_trace_e2e.runtime.paths import config_dir, repo_root
from llmd_trace_e2e.deployment.profiles import load_profile
from llmd_trace_e2e.deployment.values import nest
from tests.faults.leaks import LeakGuard

ROOT = repo_root()
RUN_TIMEOUT_S = 120


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def lines(self, prefix: str) -> list[str]:
        return [ln for ln in self.output.splitlines() if ln.startswith(prefix)]


def run(argv: list[str], tmp_path: Path, env: dict[str, str] | None = None) -> Run:
    """Run a command the way a person would, under a leak guard; assert nothing is left."""
    guard = LeakGuard()
    try:
        with guard:
            proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                                  env=guard.env({**os.environ, **(env or {})}))
    finally:
        guard.assert_clean()
    return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def probe(tmp_path) -> Path:
    """A one-test suite that needs the platform, as e2e/ does."""
    path = tmp_path / "suite" / "test_probe.py"
    path.parent.mkdir()
    path.write_text("def test_probe(platform):\n    pass\n")
    return path


def pytest_run(probe: Path, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    return run([sys.executable, "-m", "pytest", str(probe), "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
                "-p", "no:cacheprovider", "--artifacts", str(tmp_path / "artifacts"), *args], tmp_path, env)


def assert_one_clear_line(result: Run, prefix: str, *needles: str) -> str:
    assert result.returncode != 0, result.output
    assert "Traceback" not in result.output, result.output
    [line] = result.lines(prefix)
    for needle in needles:
        assert needle in line, result.output
    return line


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- pytest: option values and input files (fast: no process starts) --------------------------


def test_unknown_platform(probe, tmp_path):
    result = pytest_run(probe, tmp_path, "--platform", "x")
    assert result.returncode == 4
    assert_one_clear_line(result, "python -m pytest: error:",
                          "argument --platform: invalid choice: 'x' (choose from 'local', 'kind')")


@pytest.mark.parametrize("where,fix", [(("--platform", "kind"), "--load-image"), (("--attach",), "local up")])
def test_component_only_on_the_local_platform(probe, tmp_path, where, fix):
    result = pytest_run(probe, tmp_path, *where, "--component", "epp=/bin/true")
    assert_one_clear_line(result, "ERROR: llmd-trace-e2e:", "--component runs binaries on the local platform, "
                          f"not with {' '.join(where)}", fix)


def test_unknown_profile(probe, tmp_path):
    result = pytest_run(probe, tmp_path, "--platform", "local", "--profile", "nope")
    assert_one_clear_line(result, "ERROR: llmd-trace-e2e:", "unknown profile 'nope': choose one of", "local")


@pytest.mark.parametrize("old,new", [("guide", "helmfile-guide"), ("latest", "kustomize-guide")])
def test_a_retired_profile_name_names_the_new_one(probe, tmp_path, old, new):
    result = pytest_run(probe, tmp_path, "--platform", "kind", "--profile", old)
    assert_one_clear_line(result, "ERROR: llmd-trace-e2e:", f"profile '{old}' was", f"use --profile {new}")


def test_values_file_that_is_not_yaml(probe, tmp_path):
    bad = write(tmp_path, "values.yaml", "global:\n  tracing: [enabled\n")
    result = pytest_run(probe, tmp_path, "--values", str(bad))
    assert_one_clear_line(result, "ERROR: llmd-trace-e2e:", f"values file {bad} is not valid YAML", "fix its syntax")


def test_values_file_that_does_not_exist(probe, tmp_path):
    result = pytest_run(probe, tmp_path, "--values", str(tmp_path / "nope.yaml"))
    assert_one_clear_line(result, "ERROR: llmd-trace-e2e:", "cannot read values file", "No such file or directory")


def test_misspelled_tracing_key(probe, tmp_path):
    path = load_profile("local").values_schema["modelservice"].path  # where this profile's chart reads tracing
    values = write(tmp_path, "values.yaml", yaml.safe_dump(nest(path, {"enabeld": True})))
    result = pytest_run(probe, tmp_path, "--values", str(values))
    assert_one_clear_line(result, "ERROR: llmd-trace-e2e:", f"unknown tracing key {path}.enabeld",
                          f"did you mean {path}.enabled?")


def test_collector_config_without_a_traces_pipeline(probe, tmp_path):
    body = yaml.safe_load((config_dir() / "collector" / "guide.yaml").read_text())
    body["service"]["pipelines"] = {"metrics": {"receivers": ["otlp"], "exporters": ["debug"]}}
    config = write(tmp_path, "collector.yaml", yaml.safe_dump(body))
    result = pytest_run(probe, tmp_path, "--collector-config", str(config))
    assert_one_clear_line(result, "ERROR: llmd-trace-e2e:", "has no traces pipeline (service.pipelines.traces)",
                          "add one")


def test_artifacts_folder_that_is_a_file(probe, tmp_path):
    in_the_way = write(tmp_path, "not-a-folder", "")
    result = pytest_run(probe, tmp_path, "--artifacts", str(in_the_way / "run"))
    assert_one_clear_line(result, "ERROR: llmd-trace-e2e:", "cannot write to the artifacts folder",
                          "pass --artifacts with a folder you can write to")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders: covered by the file case above")
def test_artifacts_folder_that_is_read_only(probe, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    result = pytest_run(probe, tmp_path, "--artifacts", str(locked))
    assert_one_clear_line(result, "ERROR: llmd-trace-e2e:", "cannot write to the artifacts folder", "Permission denied")


def test_missing_binary(probe, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    result = pytest_run(probe, tmp_path, env={"LLMD_TRACE_E2E_BIN": str(empty)})
    assert_one_clear_line(result, "ERROR: llmd-trace-e2e:", f"not found at {empty}/", "run `make tools`")


def test_values_that_sample_nothing_are_refused_before_anything_starts(probe, tmp_path):
    """Sampler ratio 0 in both charts: the EPP, where the suite's requests start their traces,
    would sample none of them. One line naming the key and the ratio, not a run of failures."""
    profile = load_profile("local")
    zero = {"sampling": {"samplerArg": "0"}}
    body = {**nest(profile.values_schema["modelservice"].path, zero), **nest(profile.values_schema["epp"].path, zero)}
    values = write(tmp_path, "values.yaml", yaml.safe_dump(body))
    result = pytest_run(probe, tmp_path, "--values", str(values), env={"LLMD_TRACE_E2E_BIN": str(tmp_path / "none")})
    epp_key = f"{profile.values_schema['epp'].path}.sampling.samplerArg"
    assert_one_clear_line(result, "ERROR: llmd-trace-e2e:", "samples no root trace at sampler ratio 0",
                          f"({epp_key}: '0')", f"give {epp_key} a ratio above 0")
    assert not (tmp_path / "artifacts" / "local").exists(), "a run folder was made: something started"


# --- the CLI ---------------------------------------------------------------------------------


def cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    return run([sys.executable, "-m", "llmd_trace_e2e.commands.cli", *args], tmp_path, env)


def test_cli_missing_binary(tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    result = cli(tmp_path, "verify-collector-config", str(config_dir() / "collector" / "guide.yaml"),
                 env={"LLMD_TRACE_E2E_BIN": str(empty)})
    assert result.returncode == 2
    assert_one_clear_line(result, "error:", f"not found at {empty}/", "run `make tools`")


def test_cli_collector_config_that_is_not_yaml(tmp_path):
    bad = write(tmp_path, "collector.yaml", "receivers: [oops\n")
    result = cli(tmp_path, "verify-collector-config", str(bad))
    assert result.returncode == 2
    assert_one_clear_line(result, "error:", "is not valid YAML", "fix the syntax")


def test_cli_unknown_subcommand(tmp_path):
    result = cli(tmp_path, "verify-everything")
    assert result.returncode == 2
    assert_one_clear_line(result, "llmd-trace-e2e: error:", "invalid choice: 'verify-everything'")


# --- a well-known port held by another process: the harness never uses one -------------------

WELL_KNOWN = (4317, 4318, 16686)  # OTLP gRPC, OTLP HTTP, Jaeger UI


class HeldPorts:
    """Listen on the well-known ports as a foreign process would, and count connections."""

    def __init__(self, ports):
        self.sockets, self.held, self.connections = [], [], 0
        for port in ports:
            sock = socket.socket()
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:  # already held by someone else: the very condition under test
                sock.close()
                continue
            sock.listen(16)
            sock.settimeout(0.2)
            self.sockets.append(sock)
            self.held.append(port)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while not self._stop.is_set():
            for sock in self.sockets:
                try:
                    conn, _ = sock.accept()
                except OSError:
                    continue
                self.connections += 1
                conn.close()

    def close(self):
        self._stop.set()
        self._thread.join(2)
        for sock in self.sockets:
            sock.close()


def _tools_built() -> bool:
    from llmd_trace_e2e.runtime.errors import ToolMissing
    from llmd_trace_e2e.runtime.paths import tool

    try:
        tool("otelcol"), tool("jaeger")
    except ToolMissing:
        return False
    return True


@pytest.mark.integration
@pytest.mark.skipif(not _tools_built(), reason="needs otelcol and jaeger: run `make tools`")
def test_held_well_known_ports_do_not_matter(tmp_path):
    """With 4317, 4318 and 16686 taken, the real collector and Jaeger still run on free ports
    and the verdict is unchanged; nothing the harness started even tried the held ports."""
    held = HeldPorts(WELL_KNOWN)
    try:
        result = cli(tmp_path, "verify-collector-config", str(config_dir() / "collector" / "guide.yaml"))
    finally:
        held.close()
    assert result.returncode == 0, result.output
    assert "verdict: PASS" in result.stdout
    assert held.connections == 0, f"something connected to the held port(s) {held.held}"
