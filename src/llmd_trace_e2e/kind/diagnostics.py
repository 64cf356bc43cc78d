"""What a failed (or finished) kind run leaves for a person: pods, events, every container's log,
`helm get values` per release, the collector's log, `kind export logs`. Best effort: a piece that
cannot be collected is noted in errors.txt, never raised. No kubeconfig content is copied.
"""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Callable

from .manifests import COLLECTOR_NAME
from .options import MONITORING_NAMESPACE
from .plan import Plan


def _safe(errors: list[str], what: str, action: Callable[[], None]) -> None:
    try:
        action()
    except Exception as exc:  # diagnostics must never mask the failure being diagnosed
        errors.append(f"{what}: {type(exc).__name__}: {exc}")


def _pods(kube, dest: Path, errors: list[str]) -> None:
    pods = kube.core.list_pod_for_all_namespaces(_request_timeout=30).items
    lines = []
    for pod in pods:
        ns, name = pod.metadata.namespace, pod.metadata.name
        lines.append(f"{ns}/{name}  phase={pod.status.phase}  node={pod.spec.node_name}")
        statuses = [("init", s) for s in pod.status.init_container_statuses or []]
        statuses += [("", s) for s in pod.status.container_statuses or []]
        for kind, cs in statuses:
            state = cs.state
            now = ("running" if state and state.running else
                   f"waiting {state.waiting.reason}: {state.waiting.message or ''}" if state and state.waiting else
                   f"terminated {state.terminated.reason} exit={state.terminated.exit_code}"
                   if state and state.terminated else "unknown")
            lines.append(f"    {kind + ' ' if kind else ''}{cs.name}: ready={cs.ready} restarts={cs.restart_count} {now}"
                         f" image={cs.image}")
            log_dir = dest / "logs" / ns / name
            log_dir.mkdir(parents=True, exist_ok=True)
            _safe(errors, f"log {ns}/{name}/{cs.name}", lambda c=cs.name, d=log_dir: (d / f"{c}.log").write_text(
                kube.core.read_namespaced_pod_log(name, ns, container=c, _request_timeout=30)))
            if cs.restart_count:
                _safe(errors, f"previous log {ns}/{name}/{cs.name}",
                      lambda c=cs.name, d=log_dir: (d / f"{c}.previous.log").write_text(
                          kube.core.read_namespaced_pod_log(name, ns, container=c, previous=True, _request_timeout=30)))
    (dest / "pods.txt").write_text("\n".join(lines) + "\n")
    collector = next((p for p in pods if p.metadata.namespace == MONITORING_NAMESPACE
                      and p.metadata.name.startswith(COLLECTOR_NAME)), None)
    if collector is not None:
        _safe(errors, "collector log", lambda: (dest / "collector.log").write_text(
            kube.core.read_namespaced_pod_log(collector.metadata.name, MONITORING_NAMESPACE, _request_timeout=30)))


def _events(kube, dest: Path) -> None:
    events = kube.core.list_event_for_all_namespaces(_request_timeout=30).items

    def when(e):
        return str(e.last_timestamp or e.event_time or e.first_timestamp or "")

    lines = [f"{when(e)}  {e.metadata.namespace}  {e.type}  {e.reason}  "
             f"{e.involved_object.kind}/{e.involved_object.name}: {e.message}" for e in sorted(events, key=when)]
    (dest / "events.txt").write_text("\n".join(lines) + "\n")


def collect(plan: Plan, dest: Path, tools: dict[str, str], kube=None) -> Path:
    """Write diagnostics under dest and return it."""
    opts = plan.options
    dest.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    if kube is None and Path(opts.kubeconfig_path).exists():
        from .kube import Kube

        try:
            kube = Kube(opts.kubeconfig_path, opts.kube_context)
        except Exception as exc:
            errors.append(f"cluster connection: {exc}")
    if kube is not None:
        _safe(errors, "pods and logs", lambda: _pods(kube, dest, errors))
        _safe(errors, "events", lambda: _events(kube, dest))
    helm = tools.get("helm")
    for namespace, release in plan.releases if helm else []:
        argv = [helm, "get", "values", release, "--namespace", namespace, "--all",
                "--kubeconfig", str(opts.kubeconfig_path)] + (["--kube-context", opts.kube_context]
                                                              if opts.kube_context else [])
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        target = dest / "helm" / f"{namespace}.{release}.values.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(proc.stdout if proc.returncode == 0 else f"# helm get values failed: {proc.stderr}")
    kind = tools.get("kind")
    if kind and not opts.use_existing_cluster:
        proc = subprocess.run([kind, "export", "logs", str(dest / "kind-logs"), "--name", opts.cluster_name],
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            errors.append(f"kind export logs: {proc.stderr.strip()}")
    if errors:
        (dest / "errors.txt").write_text("\n".join(errors) + "\n")
    return dest
