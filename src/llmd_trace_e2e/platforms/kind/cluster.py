"""The kind cluster's lifecycle through pytest-kind's `KindCluster`: create or reuse by name,
the per-cluster kubeconfig, `kind load docker-image`, delete.

pytest-kind's library part imports no pytest (its plugin, loaded only by pytest, is kept off:
its options collide with the harness's own). What it cannot serve is replaced or wrapped here:
- its constructor makes `.pytest-kind/NAME/` in the working directory and points kind and
  kubectl at download locations: replaced, the cluster's files live in the run folder and the
  binaries are the pinned ones (.bin/kind from `make tools`);
- `ensure_kind`/`ensure_kubectl` download from the internet when the binary is absent: replaced
  by an error that names the fix;
- its commands inherit the terminal's stdout and stderr, so a failure says only "returned
  non-zero exit status 1", and they have no timeout: every call is wrapped (`_run`), its output
  goes to the step's log, a failure carries the log's tail, and a deadline ends the command;
- `port_forward` (kubectl restarted on every try, `env=` without PATH and HOME): not used, the
  cluster maps its NodePorts to 127.0.0.1 (clusters/kind-*.yaml).
What stays the harness's (runner.py, preflight.py): the ownership check before a reuse (pytest-kind
reuses any cluster of that name), writing a reused cluster's kubeconfig into this run's folder,
deleting a cluster whose set-up failed half-way, --keep-cluster, --use-existing-cluster, the plan.
"""
from __future__ import annotations

import os
import platform
import shlex
import shutil
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import psutil
from pytest_kind import KindCluster

from llmd_trace_e2e.runtime.errors import HarnessError, ToolMissing

T = TypeVar("T")
LOG_TAIL_LINES = 15


class CommandFailed(HarnessError):
    pass


def create_argv(name: str, kubeconfig: Path, config_file: Path) -> tuple[str, ...]:
    """What `KindCluster.create` runs for an absent cluster (tests/unit/kind/test_runner.py holds
    this against the calls pytest-kind really makes), for the plan to show."""
    return ("kind", "create", "cluster", f"--name={name}", f"--kubeconfig={kubeconfig}", "--config", str(config_file))


def load_argv(name: str, image: str) -> tuple[str, ...]:
    """What `KindCluster.load_docker_image` runs."""
    return ("kind", "load", "docker-image", "--name", name, image)


def _output_since(path: Path, offset: int, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines the command wrote (from `offset` on), for the error message."""
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            text = log.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:]) or "no output"


@contextmanager
def _output_to(log_path: Path) -> Iterator[None]:
    """This process's stdout and stderr (file descriptors 1 and 2) point at the log while
    pytest-kind runs a command: its subprocesses inherit them, so their output lands there."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    try:
        with open(log_path, "ab") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                yield
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    finally:
        for fd in saved:
            os.close(fd)


@contextmanager
def _deadline(timeout_s: float, expired: threading.Event) -> Iterator[None]:
    """Once the time is up, kill the children this process started meanwhile, and theirs."""
    me = psutil.Process()
    before = {child.pid for child in me.children()}

    def kill() -> None:
        expired.set()
        for child in me.children():
            if child.pid in before:
                continue
            try:
                for proc in [*child.children(recursive=True), child]:
                    proc.kill()
            except psutil.Error:
                pass

    timer = threading.Timer(timeout_s, kill)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


class HarnessKindCluster(KindCluster):
    """pytest-kind's KindCluster with the pinned kind, the run's kubeconfig and logged, timed commands."""

    def __init__(self, name: str, kubeconfig: Path, kind_path: str | Path, kubectl_path: str | Path | None = None):
        # Replaces KindCluster.__init__ (see the module docstring): same attributes, no
        # folder in the working directory, no download locations.
        self.name = name
        self.image = None  # the node image is pinned in the cluster config (clusters/kind-*.yaml)
        self.kubeconfig_path = Path(kubeconfig)
        self.path = self.kubeconfig_path.parent
        self.kind_path = Path(kind_path)
        found = kubectl_path or shutil.which("kubectl")
        self.kubectl_path = Path(found) if found else None
        self.platform = platform.system().lower()

    def ensure_kind(self) -> None:  # replaces the download
        if not os.access(self.kind_path, os.X_OK):
            raise ToolMissing(f"kind not found at {self.kind_path}: run `make tools` to build it")

    def ensure_kubectl(self) -> None:  # replaces the download; the harness itself never calls kubectl()
        if self.kubectl_path is None or not os.access(self.kubectl_path, os.X_OK):
            raise ToolMissing("kubectl not found on PATH: install it (the harness's own calls use the Kubernetes API)")

    def _run(self, what: str, log_path: Path, timeout_s: float, call: Callable[[], T]) -> T:
        """One pytest-kind call, its output in `log_path`, ended after `timeout_s`."""
        expired = threading.Event()
        try:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(log_path, "a") as log:
                log.write(f"# {what} (pytest-kind KindCluster, kind {self.kind_path})\n")
                offset = log.tell()
            with _deadline(timeout_s, expired), _output_to(log_path):
                return call()
        except subprocess.CalledProcessError as exc:
            command = shlex.join(["kind", *map(str, exc.cmd[1:4])])
            if expired.is_set():
                raise CommandFailed(f"{what}: `{command} ...` still running after {timeout_s:g}s "
                                    f"(log: {log_path})") from None
            raise CommandFailed(f"{what}: `{command} ...` exited {exc.returncode}: {_output_since(log_path, offset)} "
                                f"(log: {log_path})") from None

    def create_cluster(self, config_file: Path, log_path: Path, timeout_s: float) -> None:
        """Create the cluster if no cluster of this name exists, else reuse it (pytest-kind's rule)."""
        self.kubeconfig_path.parent.mkdir(parents=True, exist_ok=True)
        self._run(f"create or reuse kind cluster {self.name}", log_path, timeout_s,
                  lambda: self.create(config_file=config_file))
        os.chmod(self.kubeconfig_path, 0o600)

    def load_image(self, image: str, log_path: Path, timeout_s: float) -> None:
        self._run(f"load {image} into kind cluster {self.name}", log_path, timeout_s,
                  lambda: self.load_docker_image(image))

    def delete_cluster(self, log_path: Path, timeout_s: float) -> None:
        self._run(f"delete kind cluster {self.name}", log_path, timeout_s, self.delete)
