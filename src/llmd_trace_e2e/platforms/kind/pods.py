"""What the charts really rendered into the cluster's pods, for comparison with what
`charts.py` predicts (and the local platform applies)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence


@dataclass(frozen=True)
class ContainerView:
    pod: str
    container: str
    args: tuple[str, ...]
    env: dict[str, str]  # literal values; of duplicate names the last wins, as in Kubernetes

    def has_args(self, expected: Sequence[str]) -> bool:
        """`expected` appears in order and adjacent (a flag followed by its value)."""
        n = len(expected)
        return n == 0 or any(tuple(self.args[i:i + n]) == tuple(expected) for i in range(len(self.args) - n + 1))


def container_views(pods: Iterable[dict[str, Any]]) -> list[ContainerView]:
    """Pods as plain dicts (the API's JSON): one view per container and init container."""
    views = []
    for pod in pods:
        name = pod["metadata"]["name"]
        spec = pod.get("spec") or {}
        for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            env = {e["name"]: e.get("value", "") for e in c.get("env") or [] if "valueFrom" not in e}
            views.append(ContainerView(name, c["name"], tuple((c.get("command") or []) + (c.get("args") or [])), env))
    return views


def list_pods(kubeconfig: Path, context: str | None, namespace: str) -> list[dict[str, Any]]:
    from kubernetes import client, config

    api = client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig), context=context))
    return api.api_client.sanitize_for_serialization(api.list_namespaced_pod(namespace).items)


def vllm_containers(views: Iterable[ContainerView], role: str = "decode") -> list[ContainerView]:
    """The chart's `vllm` container, or the `modelserver` of a kustomize model server."""
    return [v for v in views if v.container in ("vllm", "modelserver") and f"-{role}-" in v.pod]


def epp_containers(views: Iterable[ContainerView]) -> list[ContainerView]:
    return [v for v in views if any(a.startswith("--pool-name") for a in v.args)]
