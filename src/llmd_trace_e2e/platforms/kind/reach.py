"""An existing cluster's gateway, Jaeger and collector, reached through its kubeconfig: a local
127.0.0.1 port per Service, each connection relayed to a Ready pod behind the Service through
the API server's port-forward (what `kubectl port-forward svc/...` does), so the cluster needs
no NodePort mapped to this host. A connection finds its pod when it is made: a restarted pod is
picked up by the next connection."""
from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from pathlib import Path

from llmd_trace_e2e.runtime.errors import HarnessError

BUFFER = 65536


@dataclass(frozen=True)
class Target:
    namespace: str
    service: str
    port: int  # the Service's port


def pod_and_port(core, target: Target) -> tuple[str, int]:
    """A Ready pod behind the Service and the container port its `port` maps to."""
    svc = core.read_namespaced_service(target.service, target.namespace, _request_timeout=20)
    spec_port = next((p for p in svc.spec.ports or [] if p.port == target.port), None)
    if spec_port is None:
        raise HarnessError(f"Service {target.namespace}/{target.service} has no port {target.port}")
    selector = ",".join(f"{k}={v}" for k, v in (svc.spec.selector or {}).items())
    pods = core.list_namespaced_pod(target.namespace, label_selector=selector, _request_timeout=20).items
    ready = [p for p in pods if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])]
    if not ready:
        raise HarnessError(f"no Ready pod behind Service {target.namespace}/{target.service} "
                           f"({len(pods)} pod(s) match {selector or 'its selector'})")
    pod = ready[0]
    wanted = spec_port.target_port if spec_port.target_port is not None else spec_port.port
    if isinstance(wanted, str) and not wanted.isdigit():  # a named port
        for container in pod.spec.containers:
            for port in container.ports or []:
                if port.name == wanted:
                    return pod.metadata.name, port.container_port
        raise HarnessError(f"pod {pod.metadata.name} has no port named {wanted}")
    return pod.metadata.name, int(wanted)


def _pump(src, dst) -> None:
    try:
        while True:
            data = src.recv(BUFFER)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class PortForwards:
    """`forward(target)` answers a local URL's port; `close()` stops listening and relaying."""

    def __init__(self, kubeconfig: Path, context: str | None):
        from kubernetes import client, config

        self.core = client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig), context=context))
        self._listeners: list[socket.socket] = []
        self._closed = threading.Event()

    def forward(self, target: Target) -> int:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        self._listeners.append(listener)
        threading.Thread(target=self._accept, args=(listener, target), daemon=True,
                         name=f"forward-{target.service}").start()
        return listener.getsockname()[1]

    def _accept(self, listener: socket.socket, target: Target) -> None:
        while not self._closed.is_set():
            try:
                local, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(local, target), daemon=True).start()

    def _relay(self, local: socket.socket, target: Target) -> None:
        from kubernetes.stream import portforward

        try:
            pod, port = pod_and_port(self.core, target)
            forward = portforward(self.core.connect_get_namespaced_pod_portforward, pod, target.namespace,
                                  ports=str(port))
            remote = forward.socket(port)
            remote.setblocking(True)
        except Exception:  # noqa: BLE001 - the caller sees a closed connection; its wait names the state
            local.close()
            return
        back = threading.Thread(target=_pump, args=(remote, local), daemon=True)
        back.start()
        _pump(local, remote)
        back.join(timeout=5)
        forward.close()

    def close(self) -> None:
        self._closed.set()
        for listener in self._listeners:
            listener.close()
