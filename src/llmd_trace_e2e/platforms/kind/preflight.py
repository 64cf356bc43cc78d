"""Checks that run before anything is created: each failure is one line that names the fix."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

from llmd_trace_e2e.runtime.errors import HarnessError, ToolMissing
from llmd_trace_e2e.platforms.kind.ports import HOST_PORTS
from llmd_trace_e2e.platforms.kind.plan import Plan


class PreflightError(HarnessError):
    pass


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "no output"


@dataclass
class Host:
    """The machine the checks look at. Tests give it their own PATH and file locations."""

    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    gpu_device: Path = Path("/dev/nvidia0")
    nvidia_runtime_config: Path = Path("/etc/nvidia-container-runtime/config.toml")

    def which(self, name: str) -> str | None:
        return shutil.which(name, path=self.env.get("PATH", ""))

    def run(self, argv: Sequence[str], timeout: float = 60) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(list(argv), env=dict(self.env), capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(list(argv), 124, "", f"no answer within {timeout:g}s")


def check_container_engine(host: Host) -> str:
    docker = host.which("docker")
    if not docker:
        raise PreflightError("no container engine: the docker CLI is not on PATH; install Docker and start it "
                             "(dockerd), or run against a cluster you have with --use-existing-cluster")
    proc = host.run([docker, "info", "--format", "{{.ServerVersion}}"], timeout=30)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise PreflightError(f"no container engine: the Docker daemon is not answering ({_first_line(proc.stderr)}); "
                             "start Docker (dockerd), or point DOCKER_HOST at a running daemon")
    return docker


def find_tools(names: Sequence[str], host: Host) -> dict[str, str]:
    """kind and helm come from .bin/ (`make tools`); helmfile from .bin/ or PATH."""
    from llmd_trace_e2e.runtime.paths import tool

    found = {}
    for name in names:
        try:
            found[name] = str(tool(name))
        except ToolMissing:
            on_path = host.which(name) if name == "helmfile" else None
            if not on_path:
                hint = ("install helmfile v1.4.4 (go install github.com/helmfile/helmfile@v1.4.4) with the helm-diff "
                        "plugin" if name == "helmfile" else "run `make tools` to build it")
                raise ToolMissing(f"{name} not found in .bin/: {hint}") from None
            found[name] = on_path
    return found


def check_gpu_host(host: Host, docker: str) -> None:
    if not host.which("nvidia-smi") or not host.gpu_device.exists():
        raise PreflightError(f"--gpu on a machine without NVIDIA GPUs (nvidia-smi on PATH: "
                             f"{'yes' if host.which('nvidia-smi') else 'no'}; {host.gpu_device}: "
                             f"{'present' if host.gpu_device.exists() else 'absent'}): run on a GPU runner, or drop --gpu")
    runtimes = host.run([docker, "info", "--format", "{{json .Runtimes}}"], timeout=30).stdout
    if "nvidia" not in runtimes:
        raise PreflightError("Docker has no nvidia runtime: run `sudo nvidia-ctk runtime configure --runtime=docker "
                             "--set-as-default && sudo systemctl restart docker`")
    try:
        config = host.nvidia_runtime_config.read_text()
    except OSError:
        config = ""
    if not any(line.replace(" ", "") == "accept-nvidia-visible-devices-as-volume-mounts=true"
               for line in config.splitlines()):
        raise PreflightError("the NVIDIA container toolkit ignores volume-mounted GPU requests, which kind needs: run "
                             "`sudo nvidia-ctk config --set accept-nvidia-visible-devices-as-volume-mounts=true "
                             "--in-place && sudo systemctl restart docker`")


def check_git(host: Host) -> None:
    """kustomize fetches a remote component (`<repo>//<path>?ref=<commit>`) by cloning it with git."""
    if not host.which("git"):
        raise PreflightError("git is not on PATH: kustomize clones llm-d's tracing component with it "
                             "(versions.toml [kustomize.tracing-component]); install git")


def check_ports_free(ports: Sequence[int] = HOST_PORTS) -> None:
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                raise PreflightError(f"127.0.0.1:{port} is in use; the kind cluster maps its NodePorts there: stop "
                                     "what listens on it (another kind cluster of this harness? `llmd-trace-e2e kind "
                                     "down --cluster-name NAME`)") from None


def cluster_state(host: Host, kind: str, name: str,
                  owned: Callable[[Path], bool] | None = None) -> str:
    """"absent", or "harness" for a cluster this harness created; someone else's is an error."""
    proc = host.run([kind, "get", "clusters"], timeout=60)
    if proc.returncode != 0:
        raise PreflightError(f"`kind get clusters` failed: {_first_line(proc.stderr)}")
    if name not in proc.stdout.split():
        return "absent"
    kubeconfig = host.run([kind, "get", "kubeconfig", "--name", name], timeout=60)
    if kubeconfig.returncode != 0:
        raise PreflightError(f"kind cluster {name!r} exists but its kubeconfig cannot be read "
                             f"({_first_line(kubeconfig.stderr)}): delete it with `kind delete cluster --name {name}`")
    if owned is None:
        from llmd_trace_e2e.platforms.kind.kube import harness_owned as owned
    with tempfile.TemporaryDirectory(prefix="llmd-kind-") as tmp:  # never the user's kubeconfig
        path = Path(tmp) / "kubeconfig"
        path.write_text(kubeconfig.stdout)
        path.chmod(0o600)
        if not owned(path):
            raise PreflightError(f"kind cluster {name!r} exists and was not created by llmd-trace-e2e: pick another "
                                 f"--cluster-name, or delete it yourself with `kind delete cluster --name {name}`")
    return "harness"


def check_images_pullable(host: Host, docker: str, images: Sequence[str]) -> None:
    for image in images:
        if host.run([docker, "image", "inspect", image], timeout=30).returncode == 0:
            continue  # already on this host
        proc = host.run([docker, "manifest", "inspect", image], timeout=90)
        if proc.returncode != 0:
            raise PreflightError(f"cannot pull {image} ({_first_line(proc.stderr)}): check its tag in versions.toml, "
                                 "your network or registry mirror, or build/pull it and pass --load-image")


def check_existing_cluster(plan: Plan) -> None:
    opts = plan.options
    path = opts.kubeconfig_path
    if opts.kubeconfig and not Path(path).is_file():
        raise PreflightError(f"--kubeconfig {path} does not exist")


@dataclass
class PreflightResult:
    tools: dict[str, str]
    cluster_state: str  # absent | harness | existing


def run_preflight(plan: Plan, host: Host | None = None) -> PreflightResult:
    """Everything that can be known before the first object is created, in dependency order."""
    host = host or Host()
    opts = plan.options
    needs_docker = not opts.use_existing_cluster or bool(opts.load_images)
    docker = check_container_engine(host) if needs_docker else ""
    names = ["helm"] + ([] if opts.use_existing_cluster else ["kind"]) + (["helmfile"] if opts.helmfile else [])
    names += ["kustomize"] if any(getattr(s, "kustomize", False) for s in plan.steps) else []
    tools = find_tools(names, host)
    if "kustomize" in names:
        check_git(host)
    if docker:
        tools["docker"] = docker
    if opts.use_existing_cluster:
        check_existing_cluster(plan)
        return PreflightResult(tools, "existing")
    if opts.gpu:
        check_gpu_host(host, docker)
    state = cluster_state(host, tools["kind"], opts.cluster_name)
    if state == "absent":
        check_ports_free()
    check_images_pullable(host, docker, plan.images)
    return PreflightResult(tools, state)
