"""A Kubernetes API without a cluster: etcd and kube-apiserver as local processes, the way
controller-runtime's envtest runs them (no kubelet, scheduler or controller manager).

The GAIE EPP needs one: it reads a kubeconfig, watches Pods and, in the pool mode the
inferencepool chart deploys (`--pool-name`), its InferencePool. (Its standalone mode,
`--endpoint-selector` without a pool, cannot start in v1.5.0: the flags forbid setting
--pool-name with it, and the datastore then refuses the empty pool name.) A model server on
the local platform is a Pod object written here by hand (status.podIP 127.0.0.1, Ready
condition True); the InferencePool's targetPorts give the port.

Everything binds 127.0.0.1 on free ports; data, certificates and the kubeconfig live in a
private temporary folder removed by discard() (never the artifacts folder, never ~/.kube). Authentication is one static bearer token, authorization
AlwaysAllow. kube-apiserver makes its own self-signed serving certificate in --cert-dir (the
kubeconfig trusts it); the service-account signing key, which it can't make, comes from the
openssl CLI.
"""
from __future__ import annotations

import json
import secrets
import shutil
import tempfile
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Mapping

import yaml

from llmd_trace_e2e.runtime.errors import HarnessError, ToolMissing
from llmd_trace_e2e.runtime.paths import tool
from llmd_trace_e2e.runtime.ports import free_ports
from llmd_trace_e2e.runtime.procs import ManagedProcess, ProcessSpec, Supervisor
from llmd_trace_e2e.runtime.waits import Pending, WaitStats

# Where GAIE's EPP reads the ports a Pod serves on, out of the pool's target ports.
ACTIVE_PORTS_ANNOTATION = "inference.networking.k8s.io/active-ports"
INFERENCE_POOL = ("inference.networking.k8s.io", "v1", "inferencepools")
MODEL_SERVER_IMAGE = "llmd-trace-e2e/local-process"  # never pulled: no kubelet runs


def _openssl(*args: str | Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ToolMissing("openssl not found on PATH: install it (Debian: apt-get install openssl)")
    proc = subprocess.run([openssl, *map(str, args)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise HarnessError(f"openssl {' '.join(map(str, args))} failed: {proc.stderr.strip()}")


class LocalControlPlane:
    """etcd + kube-apiserver on 127.0.0.1. `start()`, then `wait_ready()`, then `kubeconfig`."""

    def __init__(self, supervisor: Supervisor, authorization_mode: str = "AlwaysAllow",
                 service_accounts: bool = False):
        """authorization_mode: "RBAC" for checks of what a ServiceAccount may do (the kind plan's
        dry run); the harness's own token is in system:masters, which RBAC always allows.
        service_accounts: keep the ServiceAccount admission plugin on, for a control plane whose
        controller manager creates each namespace's default ServiceAccount (the kind rehearsal)."""
        self.supervisor = supervisor
        self.authorization_mode = authorization_mode
        self.service_accounts = service_accounts
        # Credentials (token, keys, kubeconfig) and etcd's data never go to the artifacts
        # folder: a private folder, removed by discard().
        self.dir = Path(tempfile.mkdtemp(prefix="llmd-trace-e2e-kube-"))
        self.etcd_port, self.apiserver_port = free_ports(2)
        self.token = secrets.token_hex(16)
        self.kubeconfig = self.dir / "kubeconfig"
        self.ca_file = self.dir / "certs" / "apiserver.crt"  # written by kube-apiserver at start
        self.etcd: ManagedProcess | None = None
        self.apiserver: ManagedProcess | None = None
        self.ready_after_s: float | None = None
        self._started = 0.0
        self._client = None

    def discard(self) -> None:
        """Remove the data and credentials (after the processes have stopped)."""
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def service_account_key(self) -> Path:
        return self.dir / "certs" / "service-account.key"

    @property
    def etcd_url(self) -> str:
        return f"http://127.0.0.1:{self.etcd_port}"

    def start(self) -> "LocalControlPlane":
        self._started = time.monotonic()
        certs = self.dir / "certs"
        certs.mkdir(parents=True, exist_ok=True)
        (self.dir / "etcd").mkdir(mode=0o700, exist_ok=True)
        sa_key = self.service_account_key
        _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", sa_key)
        tokens = self.dir / "tokens.csv"
        tokens.write_text(f'{self.token},llmd-trace-e2e,llmd-trace-e2e,"system:masters"\n')
        tokens.chmod(0o600)
        self._write_kubeconfig()

        self.etcd = self.supervisor.start(ProcessSpec("etcd", [
            tool("etcd"),
            "--name=default",
            f"--data-dir={self.dir / 'etcd'}",
            f"--listen-client-urls={self.etcd_url}",
            f"--advertise-client-urls={self.etcd_url}",
            # A single member never talks to peers: port 0 binds nothing fixed (as envtest does).
            "--listen-peer-urls=http://127.0.0.1:0",
            "--unsafe-no-fsync=true",  # throwaway data: no fsync wait on every write
            "--log-level=warn",
        ]))
        # kube-apiserver retries its etcd connection, so both start at once.
        self.apiserver = self.supervisor.start(ProcessSpec("kube-apiserver", [
            tool("kube-apiserver"),
            f"--etcd-servers={self.etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.apiserver_port}",
            f"--cert-dir={certs}",
            f"--token-auth-file={tokens}",
            f"--authorization-mode={self.authorization_mode}",
            "--anonymous-auth=false",
            # Without a controller manager nothing creates the default ServiceAccount a Pod needs.
            *([] if self.service_accounts else ["--disable-admission-plugins=ServiceAccount"]),
            f"--service-account-issuer={self.server}",
            f"--service-account-key-file={sa_key}",
            f"--service-account-signing-key-file={sa_key}",
            "--service-cluster-ip-range=10.0.0.0/24",  # an allocation range only: nothing routes there
            "--allow-privileged=true",
        ]))
        return self

    def _write_kubeconfig(self) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "local", "cluster": {"server": self.server,
                                                      "certificate-authority": str(self.ca_file)}}],
            "users": [{"name": "llmd-trace-e2e", "user": {"token": self.token}}],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": "llmd-trace-e2e",
                                                       "namespace": "default"}}],
            "current-context": "local",
        }
        self.kubeconfig.write_text(yaml.safe_dump(config, sort_keys=False))
        self.kubeconfig.chmod(0o600)

    def _etcd_healthy(self) -> bool | Pending:
        try:
            with urllib.request.urlopen(f"{self.etcd_url}/health", timeout=1) as resp:
                body = json.loads(resp.read())
        except (OSError, ValueError) as exc:
            return Pending(f"GET /health: {exc}")
        return True if body.get("health") == "true" else Pending(f"GET /health: {body}")

    def _apiserver_ready(self) -> bool | Pending:
        if not self.ca_file.exists():
            return Pending("serving certificate not written yet")
        request = urllib.request.Request(f"{self.server}/readyz", headers={"Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=2,
                                        context=ssl.create_default_context(cafile=str(self.ca_file))) as resp:
                return True if resp.status == 200 else Pending(f"GET /readyz: HTTP {resp.status}")
        except urllib.error.HTTPError as exc:  # 500 lists the checks still failing
            failing = [ln for ln in exc.read().decode(errors="replace").splitlines() if ln.startswith("[-]")]
            return Pending(f"GET /readyz: HTTP {exc.code} {' '.join(failing)[:300]}")
        except (OSError, ssl.SSLError) as exc:
            return Pending(f"GET /readyz: {exc}")

    def wait_ready(self, timeout_s: float = 60.0, stats: WaitStats | None = None) -> float:
        """Until etcd is healthy and kube-apiserver's /readyz says ok; returns seconds since start()."""
        deadline = self._started + timeout_s
        self.etcd.wait_ready("GET /health", self._etcd_healthy, max(deadline - time.monotonic(), 1), stats)
        self.apiserver.wait_ready("GET /readyz", self._apiserver_ready, max(deadline - time.monotonic(), 1), stats)
        self.ready_after_s = time.monotonic() - self._started
        return self.ready_after_s

    # ---- Pods that stand for model servers ---------------------------------------------------

    def core(self):
        """A kubernetes.client.CoreV1Api on this control plane's kubeconfig."""
        if self._client is None:
            from kubernetes import client, config

            self._client = client.CoreV1Api(config.new_client_from_config(config_file=str(self.kubeconfig)))
        return self._client

    def put_endpoint_pod(self, name: str, labels: Mapping[str, str], *, ports: list[int] | None = None,
                         ready: bool = True, namespace: str = "default", ip: str = "127.0.0.1",
                         annotations: Mapping[str, str] | None = None) -> Any:
        """Create or update a Pod standing for a model server at `ip`, Running, Ready (or not).

        `ports`: the model server's ports, written as the EPP's active-ports annotation. Every
        local Pod has the same IP, so with several model servers the pool lists all their ports
        as targetPorts and each Pod names its own here; None leaves the annotation out (the Pod
        then serves every target port)."""
        from kubernetes.client.exceptions import ApiException

        api = self.core()
        meta_annotations = dict(annotations or {})
        if ports:
            meta_annotations[ACTIVE_PORTS_ANNOTATION] = ",".join(map(str, ports))
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels),
                         "annotations": meta_annotations},
            "spec": {"containers": [{"name": "model-server", "image": MODEL_SERVER_IMAGE,
                                     "ports": [{"containerPort": p} for p in ports or []]}]},
        }
        try:
            api.create_namespaced_pod(namespace, body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            api.patch_namespaced_pod(name, namespace, {"metadata": body["metadata"]})
        return self.set_pod_ready(name, ready, namespace=namespace, ip=ip)

    def set_pod_ready(self, name: str, ready: bool, *, namespace: str = "default", ip: str = "127.0.0.1") -> Any:
        """Write the Pod's status as a kubelet would: Running with podIP, Ready True or False."""
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        flag = "True" if ready else "False"
        status = {
            "phase": "Running",
            "hostIP": ip,
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": now,
            "conditions": [{"type": t, "status": s, "lastTransitionTime": now}
                           for t, s in (("PodScheduled", "True"), ("Initialized", "True"),
                                        ("ContainersReady", flag), ("Ready", flag))],
        }
        return self.core().patch_namespaced_pod_status(name, namespace, {"status": status})

    def delete_pod(self, name: str, *, namespace: str = "default") -> None:
        from kubernetes.client.exceptions import ApiException

        try:
            # No kubelet to confirm the shutdown: delete at once.
            self.core().delete_namespaced_pod(name, namespace, grace_period_seconds=0)
        except ApiException as exc:
            if exc.status != 404:
                raise

    # ---- CRDs and the InferencePool -----------------------------------------------------------

    def apply_crds(self, *paths: Path, timeout_s: float = 30.0) -> None:
        """Create the CustomResourceDefinitions in these YAML files; wait until each is Established."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        from llmd_trace_e2e.runtime.waits import wait_for

        api = client.ApiextensionsV1Api(self.core().api_client)
        names = []
        for path in paths:
            for doc in yaml.safe_load_all(Path(path).read_text()):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                try:
                    api.create_custom_resource_definition(doc)
                except ApiException as exc:
                    if exc.status != 409:
                        raise
                names.append(doc["metadata"]["name"])

        def established(name: str):
            conditions = api.read_custom_resource_definition(name).status.conditions or []
            ok = any(c.type == "Established" and c.status == "True" for c in conditions)
            return ok or Pending(f"{name}: {[(c.type, c.status) for c in conditions]}")

        for name in names:
            wait_for(f"CRD {name} to be established", lambda: established(name), timeout_s)

    def put_inference_pool(self, name: str, selector: Mapping[str, str], target_ports: list[int], *,
                           epp_service: str, epp_port: int, namespace: str = "default") -> Any:
        """Create or replace an InferencePool (v1) as the inferencepool chart renders it."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        group, version, plural = INFERENCE_POOL
        api = client.CustomObjectsApi(self.core().api_client)
        body = {
            "apiVersion": f"{group}/{version}",
            "kind": "InferencePool",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "selector": {"matchLabels": dict(selector)},
                "targetPorts": [{"number": p} for p in target_ports],
                "endpointPickerRef": {"name": epp_service, "port": {"number": epp_port}},
            },
        }
        try:
            return api.create_namespaced_custom_object(group, version, namespace, plural, body)
        except ApiException as exc:
            if exc.status != 409:
                raise
        current = api.get_namespaced_custom_object(group, version, namespace, plural, name)
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        return api.replace_namespaced_custom_object(group, version, namespace, plural, name, body)
