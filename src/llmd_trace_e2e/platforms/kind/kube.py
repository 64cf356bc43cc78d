"""Kubernetes API access for the kind run: server-side apply, and readiness probes for
`waits.wait_for` that report what they see and fail early on states that never recover.

Always built from an explicit kubeconfig file (and context): never the user's current context.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable

import requests
import yaml

from llmd_trace_e2e.runtime.errors import HarnessError
from llmd_trace_e2e.runtime.waits import Pending
from llmd_trace_e2e.platforms.kind.options import FIELD_MANAGER, HARNESS_LABEL

HELM_RELEASE_ANNOTATION = "meta.helm.sh/release-name"
# Pod states that will not fix themselves: waiting out the clock would only hide them. An image
# in back-off has failed to pull already, a container in CrashLoopBackOff has exited already: the
# kubelet keeps retrying, but a run that waits for them only hides the failure for minutes.
FATAL_WAITING = {"InvalidImageName", "CreateContainerConfigError", "ErrImageNeverPull", "CreateContainerError",
                 "ImagePullBackOff", "CrashLoopBackOff"}


class ProbeFailed(HarnessError):
    pass


def _client(kubeconfig: Path, context: str | None):
    from kubernetes import config

    return config.new_client_from_config(config_file=str(kubeconfig), context=context)


def harness_owned(kubeconfig: Path) -> bool:
    """True when the cluster's nodes carry the label clusters/kind-*.yaml gives them."""
    from kubernetes import client

    nodes = client.CoreV1Api(_client(kubeconfig, None)).list_node(label_selector=f"{HARNESS_LABEL}=true",
                                                                   _request_timeout=20)
    return bool(nodes.items)


class Kube:
    def __init__(self, kubeconfig: Path, context: str | None):
        from kubernetes import client

        self.api = _client(kubeconfig, context)
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.ext = client.ApiextensionsV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        self._dynamic = None

    # -- apply

    @property
    def dynamic(self):
        if self._dynamic is None:
            from kubernetes.dynamic import DynamicClient

            self._dynamic = DynamicClient(self.api)
        return self._dynamic

    def _resource(self, api_version: str, kind: str):
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        try:
            return self.dynamic.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:  # a CRD applied moments ago: discovery is cached
            self.dynamic.resources.invalidate_cache()
            return self.dynamic.resources.get(api_version=api_version, kind=kind)

    def apply(self, doc: dict[str, Any], *, dry_run: bool = False, namespace: str | None = None) -> None:
        """Server-side apply; `namespace` for namespaced objects that name none (helm's release
        namespace); `dry_run`: the API server validates and admits it, and stores nothing."""
        resource = self._resource(doc["apiVersion"], doc["kind"])
        meta = doc.get("metadata") or {}
        namespace = (meta.get("namespace") or namespace) if resource.namespaced else None
        resource.server_side_apply(body=doc, name=meta["name"], namespace=namespace, field_manager=FIELD_MANAGER,
                                   force_conflicts=True, dry_run="All" if dry_run else None)

    def exists(self, doc: dict[str, Any]) -> bool:
        """Whether the object `doc` names is in the cluster (its kind unknown yet: no)."""
        from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

        try:
            resource = self._resource(doc["apiVersion"], doc["kind"])
        except ResourceNotFoundError:
            return False
        meta = doc.get("metadata") or {}
        try:
            resource.get(name=meta["name"], namespace=meta.get("namespace") if resource.namespaced else None)
        except NotFoundError:
            return False
        return True

    def delete(self, doc: dict[str, Any], *, namespace: str | None = None) -> None:
        """Delete the object `doc` names; one already gone is fine."""
        from kubernetes.dynamic.exceptions import NotFoundError

        resource = self._resource(doc["apiVersion"], doc["kind"])
        meta = doc.get("metadata") or {}
        try:
            resource.delete(name=meta["name"],
                            namespace=(meta.get("namespace") or namespace) if resource.namespaced else None)
        except NotFoundError:
            pass

    def apply_text(self, text: str, source: str, before_each: Callable[[dict], None] | None = None) -> int:
        count = 0
        for doc in yaml.safe_load_all(text):
            if not doc:
                continue
            if before_each:
                before_each(doc)
            try:
                self.apply(doc)
            except Exception as exc:
                meta = doc.get("metadata") or {}
                raise HarnessError(f"applying {doc.get('kind')}/{meta.get('name')} from {source} failed: "
                                   f"{api_reason(exc)}") from None
            count += 1
        return count

    # -- probes: each returns a callable for waits.wait_for

    def _release_objects(self, items: Iterable[Any], release: str | None, name: str | None) -> list[Any]:
        out = []
        for item in items:
            annotations = item.metadata.annotations or {}
            if name and item.metadata.name != name:
                continue
            if release and annotations.get(HELM_RELEASE_ANNOTATION) != release:
                continue
            out.append(item)
        return out

    def deployments_ready(self, namespace: str, name: str | None = None, release: str | None = None) -> Callable:
        def probe():
            deps = self._release_objects(self.apps.list_namespaced_deployment(namespace, _request_timeout=20).items,
                                         release, name)
            if not deps:
                return Pending(f"no Deployment {name or ('of release ' + str(release)) or ''} in {namespace} yet")
            states, done = [], True
            for dep in deps:
                want = dep.spec.replicas if dep.spec.replicas is not None else 1
                have = dep.status.available_replicas or 0
                # a changed Deployment is ready once its rollout is done, not while old pods still serve
                status, meta = dep.status, dep.metadata
                rolled = ((getattr(status, "observed_generation", None) or 0) >= (getattr(meta, "generation", None) or 0)
                          and (getattr(status, "updated_replicas", None) or have) >= want
                          and (getattr(status, "replicas", None) or have) <= want)
                states.append(f"{dep.metadata.name} {have}/{want} available" + ("" if rolled else ", rolling out"))
                if have < want or not rolled:
                    done = False
                    _no_pods(dep)
                    states += self._pod_problems(namespace, dep.spec.selector.match_labels or {})
            return True if done else Pending("; ".join(states))
        return probe

    def daemonset_ready(self, namespace: str, release: str) -> Callable:
        def probe():
            sets = self._release_objects(self.apps.list_namespaced_daemon_set(namespace, _request_timeout=20).items,
                                         release, None)
            if not sets:
                return Pending(f"no DaemonSet of release {release} in {namespace} yet")
            states = [f"{ds.metadata.name} {ds.status.number_ready or 0}/{ds.status.desired_number_scheduled or 0} ready"
                      for ds in sets]
            ok = all((ds.status.desired_number_scheduled or 0) > 0
                     and ds.status.number_ready == ds.status.desired_number_scheduled for ds in sets)
            return True if ok else Pending("; ".join(states))
        return probe

    def _pod_problems(self, namespace: str, labels: dict[str, str]) -> list[str]:
        selector = ",".join(f"{k}={v}" for k, v in labels.items())
        problems = []
        for pod in self.core.list_namespaced_pod(namespace, label_selector=selector, _request_timeout=20).items:
            statuses = (pod.status.init_container_statuses or []) + (pod.status.container_statuses or [])
            for cs in statuses:
                waiting = cs.state.waiting if cs.state else None
                reason = waiting.reason if waiting else None
                where = f"pod {namespace}/{pod.metadata.name} container {cs.name}"
                if reason == "CrashLoopBackOff":
                    last = cs.last_state.terminated if cs.last_state else None
                    ended = f", last exit {last.exit_code} ({last.reason})" if last else ""
                    log = self._log_tail(namespace, pod.metadata.name, cs.name, previous=True, lines=1).strip()
                    raise ProbeFailed(f"{where}: CrashLoopBackOff ({cs.restart_count} restarts{ended}); "
                                      f"last log line: {log.splitlines()[-1] if log else '(none)'}")
                if reason in FATAL_WAITING:
                    raise ProbeFailed(f"{where}: {reason}: {waiting.message or ''}".strip().rstrip(":"))
                if reason:
                    problems.append(f"{where}: {reason}")
                elif cs.state and cs.state.running and not cs.ready and cs in (pod.status.container_statuses or []):
                    problems.append(f"{where}: running, not Ready (its readiness probe fails)")
            if not statuses:
                cond = next((c for c in pod.status.conditions or [] if c.type == "PodScheduled"), None)
                if cond is not None and cond.status == "False":
                    problems.append(f"pod {pod.metadata.name} unschedulable: {cond.message}")
        return problems

    def _log_tail(self, namespace: str, pod: str, container: str, previous: bool = False, lines: int = 25) -> str:
        try:
            return self.core.read_namespaced_pod_log(pod, namespace, container=container, previous=previous,
                                                     tail_lines=lines, _request_timeout=20)
        except Exception as exc:
            return f"none ({log_unavailable(exc, short=True)})"

    def crds_established(self, names: Iterable[str]) -> Callable:
        names = list(names)

        def probe():
            missing = []
            for crd_name in names:
                try:
                    crd = self.ext.read_custom_resource_definition(crd_name, _request_timeout=20)
                except Exception:
                    missing.append(f"{crd_name} absent")
                    continue
                established = any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or [])
                if not established:
                    missing.append(f"{crd_name} not established")
            return True if not missing else Pending("; ".join(missing))
        return probe

    def gateway_programmed(self, namespace: str, name: str) -> Callable:
        def probe():
            gw = self.custom.get_namespaced_custom_object("gateway.networking.k8s.io", "v1", namespace, "gateways",
                                                          name, _request_timeout=20)
            conditions = (gw.get("status") or {}).get("conditions") or []
            programmed = next((c for c in conditions if c.get("type") == "Programmed"), None)
            if programmed and programmed.get("status") == "True":
                return True
            return Pending(f"Gateway {namespace}/{name} Programmed={programmed.get('status')} ({programmed.get('reason')}: "
                           f"{programmed.get('message')})" if programmed else
                           f"Gateway {namespace}/{name} has no Programmed condition yet")
        return probe

    def gpus_allocatable(self, count: int) -> Callable:
        def probe():
            nodes = self.core.list_node(_request_timeout=20).items
            per_node = {n.metadata.name: int((n.status.allocatable or {}).get("nvidia.com/gpu", "0")) for n in nodes}
            total = sum(per_node.values())
            return True if total >= count else Pending(f"nvidia.com/gpu allocatable: {per_node or 'no nodes'}")
        return probe


def _no_pods(dep) -> None:
    """A Deployment whose ReplicaSet cannot create its pods (a missing ServiceAccount, a quota,
    an admission webhook) says so in its ReplicaFailure condition: no pod will come."""
    for cond in dep.status.conditions or []:
        if cond.type == "ReplicaFailure" and cond.status == "True":
            raise ProbeFailed(f"Deployment {dep.metadata.namespace}/{dep.metadata.name} gets no pods: "
                              f"{cond.reason}: {cond.message}")


def http_ready(url: str, expect: str | None) -> Callable:
    def probe():
        answer = requests.get(url, timeout=10)
        if answer.status_code == 200 and (expect is None or expect in answer.text):
            return True
        return Pending(f"HTTP {answer.status_code}: {answer.text[:200]!r}")
    return probe


def log_unavailable(exc: Exception, short: bool = False) -> str:
    """Why a container's log cannot be read, in one line; a kubelet that does not answer (or, on
    the kind rehearsal's kwok nodes, does not exist) is named as such (`short`: only that)."""
    reason = " ".join(api_reason(exc).split())[:300]
    if "dial tcp" in reason or "connection refused" in reason:
        return "no kubelet answers for the pod's node" + ("" if short else f" ({reason})")
    return reason[:120] if short else reason


def api_reason(exc: Exception) -> str:
    """The API server's message for a refused request, else the exception in one line."""
    body = getattr(exc, "body", None)
    if body:
        try:
            import json

            return json.loads(body).get("message", str(body))
        except (ValueError, AttributeError):
            return str(body)[:500]
    return f"{type(exc).__name__}: {exc}"
