"""An existing cluster reached through its kubeconfig (kind/reach.py): a local port relayed to a
Ready pod behind a Service through a real kube-apiserver's port-forward. The rehearsal cluster's
kwok plays the kubelet and forwards the pod's port to a local HTTP server this test starts (the
forward target, named as such); the answer must come back through the harness's local port.
Control: a Service with no Ready pod gives no answer, and says so."""
from __future__ import annotations

import http.server
import threading

import pytest
import requests

from llmd_trace_e2e.runtime.errors import HarnessError, ToolMissing
from llmd_trace_e2e.runtime.paths import tool
from llmd_trace_e2e.runtime.procs import Supervisor
from llmd_trace_e2e.runtime.waits import Pending, wait_for
from llmd_trace_e2e.platforms.kind.reach import PortForwards, Target, pod_and_port
from llmd_trace_e2e.platforms.kind.rehearsal.cluster import FAULT_ANNOTATION, RehearsalCluster

pytestmark = pytest.mark.integration
POD_PORT = 8000
ANSWER = b"the forward target answers"


class _Target(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("content-length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)

    def log_message(self, *args):
        pass


def _app(name: str, fault: str | None = None) -> tuple[dict, dict]:
    meta = {"labels": {"app": name}, **({"annotations": {FAULT_ANNOTATION: fault}} if fault else {})}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
                  "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                           "template": {"metadata": meta, "spec": {"containers": [
                               {"name": "server", "image": "registry.invalid/llmd-trace-e2e/rehearsal:0",
                                "ports": [{"name": "http", "containerPort": POD_PORT}]}]}}}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
               "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": "http"}]}}
    return deployment, service


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"):
        try:
            tool(name)
        except ToolMissing as exc:
            pytest.skip(f"SKIPPED LOUDLY: the port-forward check needs {exc} (make tools-rehearse)")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Target)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    logs = tmp_path_factory.mktemp("reach")
    with Supervisor(logs) as supervisor:
        rehearsal = RehearsalCluster(supervisor, nodes=1, forwards={POD_PORT: server.server_address[1]})
        try:
            rehearsal.start()
            from kubernetes import client
            api = rehearsal.control_plane.core().api_client
            for name, fault in (("served", None), ("never-ready", "never-ready")):
                deployment, service = _app(name, fault)
                client.AppsV1Api(api).create_namespaced_deployment("default", deployment)
                client.CoreV1Api(api).create_namespaced_service("default", service)
            yield rehearsal, logs
        finally:
            rehearsal.stop()
            server.shutdown()


def _ready_pod(core, target):
    try:
        return pod_and_port(core, target)
    except HarnessError as exc:
        return Pending(str(exc))


def test_a_service_answers_through_the_kubeconfig_port_forward(cluster):
    rehearsal, logs = cluster
    forwards = PortForwards(rehearsal.kubeconfig, None)
    try:
        target = Target("default", "served", 80)
        pod, port = wait_for("a Ready pod behind Service served", lambda: _ready_pod(forwards.core, target), 60)
        assert port == POD_PORT, f"Service port 80 -> named port http should resolve to {POD_PORT}, got {port}"
        local = forwards.forward(target)
        answer = requests.get(f"http://127.0.0.1:{local}/v1/models", timeout=20)
        assert answer.content == ANSWER, (f"through 127.0.0.1:{local} -> {pod}:{port} expected {ANSWER!r}, got "
                                          f"HTTP {answer.status_code} {answer.content[:200]!r} (logs: {logs})")
    finally:
        forwards.close()


def test_a_service_without_a_ready_pod_gives_no_answer_and_says_why(cluster):
    rehearsal, _ = cluster
    forwards = PortForwards(rehearsal.kubeconfig, None)
    try:
        with pytest.raises(HarnessError, match="no Ready pod behind Service default/never-ready"):
            pod_and_port(forwards.core, Target("default", "never-ready", 80))
        local = forwards.forward(Target("default", "never-ready", 80))
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{local}/", timeout=20)
    finally:
        forwards.close()
