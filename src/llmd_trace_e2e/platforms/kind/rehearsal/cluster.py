"""The kind rehearsal's cluster: a real control plane whose nodes kwok simulates.

etcd and kube-apiserver come from the local platform (local/kube.py, here with RBAC and the
ServiceAccount admission plugin on), plus kube-controller-manager (Deployments make ReplicaSets
make Pods, namespaces are finalized, default ServiceAccounts appear), kube-scheduler (Pods get
a node) and kwok's controller, which plays every kubelet: its stages
(config/rehearsal/kwok-stages.yaml) make a scheduled Pod Running and Ready, or fail it the way a
fault annotation says. No container runs and no kubelet: the fake nodes' kubelet port is one
nothing listens on, so a request for container logs is refused at once.

All of it binds 127.0.0.1 on free ports and lives in the control plane's private folder.
"""
from __future__ import annotations

import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from llmd_trace_e2e.runtime.paths import repo_root, tool
from llmd_trace_e2e.runtime.ports import free_ports
from llmd_trace_e2e.runtime.procs import ManagedProcess, ProcessSpec, Supervisor
from llmd_trace_e2e.runtime.waits import Pending, wait_for
from llmd_trace_e2e.platforms.local.kube import LocalControlPlane

FAKE_NODE_ANNOTATION = "kwok.x-k8s.io/node"
FAKE_NODE_LABEL = "llmd-trace-e2e.llm-d.ai/rehearsal-node"
FAULT_ANNOTATION = "llmd-trace-e2e.llm-d.ai/rehearsal-fault"
POD_CIDR = "10.244.0.1/16"
# Two GPUs each: the golden renders of llm-d-modelservice (the rehearsal's stand-in for that chart)
# ask for one nvidia.com/gpu per vLLM pod.
NODE_CAPACITY = {"cpu": "32", "memory": "256Gi", "pods": "110", "ephemeral-storage": "500Gi", "nvidia.com/gpu": "2"}


def stages_file() -> Path:
    return repo_root() / "config" / "rehearsal" / "kwok-stages.yaml"


def _healthz(url: str):
    """A component's /healthz over its self-signed HTTPS (no credentials needed for it)."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE

    def probe():
        try:
            with urllib.request.urlopen(url, timeout=2, context=context if url.startswith("https") else None) as resp:
                return True if resp.status == 200 else Pending(f"GET {url}: HTTP {resp.status}")
        except urllib.error.HTTPError as exc:
            return Pending(f"GET {url}: HTTP {exc.code}")
        except OSError as exc:
            return Pending(f"GET {url}: {exc}")
    return probe


class RehearsalCluster:
    """`start()` brings everything up and creates the fake nodes; `stop()` ends it all."""

    def __init__(self, supervisor: Supervisor, nodes: int = 2, forwards: dict[int, int] | None = None):
        """forwards: {pod port: 127.0.0.1 port}. Given, kwok also plays the nodes' kubelet API and
        relays a port-forward to any pod's `pod port` to that local port (a ClusterPortForward):
        a way to hold the harness's port-forwards (reach.py) against a real API server. Without,
        no kubelet answers at all (container logs are then noted as unavailable)."""
        self.supervisor = supervisor
        self.forwards = forwards or {}
        self.control_plane = LocalControlPlane(supervisor, authorization_mode="RBAC", service_accounts=True)
        self.node_names = [f"kwok-node-{i}" for i in range(nodes)]
        self.processes: list[ManagedProcess] = []
        self.ready_after_s: float | None = None

    @property
    def kubeconfig(self) -> Path:
        return self.control_plane.kubeconfig

    @property
    def dir(self) -> Path:
        return self.control_plane.dir

    def _component(self, name: str, port: int, extra: list[str]) -> ManagedProcess:
        kubeconfig = str(self.kubeconfig)
        proc = self.supervisor.start(ProcessSpec(name, [
            str(tool(name)), f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}", "--leader-elect=false", "--bind-address=127.0.0.1",
            f"--secure-port={port}", f"--cert-dir={self.dir / name}", *extra]))
        self.processes.append(proc)
        return proc

    def start(self, timeout_s: float = 120.0) -> "RehearsalCluster":
        started = time.monotonic()
        cp = self.control_plane.start()
        cp.wait_ready(timeout_s)
        kcm_port, scheduler_port, kwok_port, kubelet_port = free_ports(4)
        kcm = self._component("kube-controller-manager", kcm_port, [
            f"--service-account-private-key-file={cp.service_account_key}", f"--root-ca-file={cp.ca_file}",
            "--use-service-account-credentials=false"])
        scheduler = self._component("kube-scheduler", scheduler_port, [])
        home = self.dir / "kwok-home"  # kwok also reads ~/.kwok/kwok.yaml: never the user's
        home.mkdir(exist_ok=True)
        config = stages_file()
        if self.forwards:
            kubelet_port = kwok_port  # kwok's own server (HTTP and HTTPS on one port) plays the kubelet
            config = self.dir / "kwok.yaml"
            config.write_text(stages_file().read_text() + "\n---\n" + yaml.safe_dump({
                "apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "ClusterPortForward",
                "metadata": {"name": "rehearsal-forwards"},
                "spec": {"forwards": [{"ports": [pod], "target": {"port": local, "address": "127.0.0.1"}}
                                      for pod, local in self.forwards.items()]}}))
        kwok = self.supervisor.start(ProcessSpec("kwok", [
            str(tool("kwok")), f"--kubeconfig={self.kubeconfig}", f"--config={config}",
            f"--manage-nodes-with-annotation-selector={FAKE_NODE_ANNOTATION}=fake",
            "--node-ip=127.0.0.1", f"--node-port={kubelet_port}", f"--cidr={POD_CIDR}",
            f"--server-address=127.0.0.1:{kwok_port}"], env={"HOME": str(home)}))
        self.processes.append(kwok)
        left = lambda: max(timeout_s - (time.monotonic() - started), 1)  # noqa: E731
        kcm.wait_ready("GET /healthz", _healthz(f"https://127.0.0.1:{kcm_port}/healthz"), left())
        scheduler.wait_ready("GET /healthz", _healthz(f"https://127.0.0.1:{scheduler_port}/healthz"), left())
        kwok.wait_ready("GET /healthz", _healthz(f"http://127.0.0.1:{kwok_port}/healthz"), left())
        self._create_nodes()
        wait_for("the kwok nodes Ready and the default ServiceAccount made", self._settled, left())
        self.ready_after_s = time.monotonic() - started
        return self

    def _create_nodes(self) -> None:
        core = self.control_plane.core()
        for name in self.node_names:
            core.create_node({
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "annotations": {FAKE_NODE_ANNOTATION: "fake"},
                             "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                        "kubernetes.io/arch": "amd64", FAKE_NODE_LABEL: "true"}},
                "status": {"capacity": NODE_CAPACITY, "allocatable": NODE_CAPACITY},
            })

    def _settled(self):
        core = self.control_plane.core()
        for proc in self.processes:
            proc.check_alive()
        nodes = core.list_node().items
        ready = [n.metadata.name for n in nodes
                 if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])]
        if len(ready) < len(self.node_names):
            return Pending(f"nodes Ready: {ready or 'none'} of {self.node_names}")
        if not [sa for sa in core.list_namespaced_service_account("default").items if sa.metadata.name == "default"]:
            return Pending("no default ServiceAccount in namespace default yet (kube-controller-manager)")
        return True

    def stop(self) -> None:
        self.supervisor.stop_all()
        self.control_plane.discard()
