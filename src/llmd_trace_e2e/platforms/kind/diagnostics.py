"""What a failed (or finished) kind run leaves for a person: pods, events, every container's log,
`helm get values` per release, the collector's log, `kind export logs`. Best effort: a piece that
cannot be collected is noted in errors.txt, never raised. No kubeconfig content is copied.

And what the cluster says when a trace check fails (`ClusterDiagnosis`, the kind platform's
`diagnosis()`): pods not running or not ready, containers that restarted, warning events.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable

from llmd_trace_e2e.runtime.diagnose import EVIDENCE_LINES, Finding, short_log_line
from llmd_trace_e2e.platforms.kind.manifests import COLLECTOR_NAME
from llmd_trace_e2e.platforms.kind.options import MONITORING_NAMESPACE
from llmd_trace_e2e.platforms.kind.plan import Plan

MAX_EVENTS = 10  # the most recent warning events a diagnosis names
API_TIMEOUT_S = 20


def _safe(errors: list[str], what: str, action: Callable[[], None]) -> None:
    try:
        action()
    except Exception as exc:  # diagnostics must never mask the failure being diagnosed
        errors.append(f"{what}: {type(exc).__name__}: {exc}")


def _read_log(kube, ns: str, name: str, container: str, path: Path, notes: list[str], previous: bool = False) -> None:
    """A container's log into `path`; one that cannot be read is noted (a container that never
    started, a node whose kubelet does not answer), never an error of the diagnostics."""
    from llmd_trace_e2e.platforms.kind.kube import log_unavailable

    try:
        path.write_text(kube.core.read_namespaced_pod_log(name, ns, container=container, previous=previous,
                                                          _request_timeout=30))
    except Exception as exc:  # noqa: BLE001 - noted, see above
        notes.append(f"{ns}/{name}/{container}{' (previous run)' if previous else ''}: {log_unavailable(exc)}")


def _pods(kube, dest: Path, errors: list[str]) -> None:
    pods = kube.core.list_pod_for_all_namespaces(_request_timeout=30).items
    lines: list[str] = []
    notes: list[str] = []
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
            last = cs.last_state.terminated if cs.restart_count and cs.last_state else None
            ended = f" last=terminated {last.reason} exit={last.exit_code}" if last else ""
            lines.append(f"    {kind + ' ' if kind else ''}{cs.name}: ready={cs.ready} restarts={cs.restart_count} {now}"
                         f"{ended} image={cs.image}")
            log_dir = dest / "logs" / ns / name
            log_dir.mkdir(parents=True, exist_ok=True)
            _read_log(kube, ns, name, cs.name, log_dir / f"{cs.name}.log", notes)
            if cs.restart_count:
                _read_log(kube, ns, name, cs.name, log_dir / f"{cs.name}.previous.log", notes, previous=True)
    (dest / "pods.txt").write_text("\n".join(lines) + "\n")
    if notes:
        (dest / "logs-unavailable.txt").write_text("# container logs that could not be read\n" + "\n".join(notes) + "\n")
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
        from llmd_trace_e2e.platforms.kind.kube import Kube

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


# --- the diagnosis of a failed check -----------------------------------------------------------


def _state(cs) -> str:
    state = cs.state
    if state and state.waiting:
        return f"waiting: {state.waiting.reason}" + (f": {state.waiting.message}" if state.waiting.message else "")
    if state and state.terminated:
        return f"terminated: {state.terminated.reason} exit={state.terminated.exit_code}"
    return "running" if state and state.running else "in an unknown state"


def pod_findings(pods: Iterable[Any], previous_log: Callable[[str, str, str], str]) -> list[Finding]:
    """Pods that are not running, containers that wait, failed or are not ready, and restarts
    with the last lines their previous run logged (`previous_log(namespace, pod, container)`)."""
    out = []
    for pod in pods:
        ns, name, status = pod.metadata.namespace, pod.metadata.name, pod.status
        if status.phase not in ("Running", "Succeeded"):
            why = [f"{c.type}: {c.reason}: {c.message}" for c in status.conditions or []
                   if c.status != "True" and c.reason]
            out.append(Finding(f"{ns}/{name}", f"pod is {status.phase}", tuple(why)))
        statuses = [(True, cs) for cs in status.init_container_statuses or []]
        statuses += [(False, cs) for cs in status.container_statuses or []]
        for init, cs in statuses:
            where = f"{ns}/{name}/{cs.name}"
            finished = cs.state and cs.state.terminated and cs.state.terminated.exit_code == 0
            if (cs.state and cs.state.waiting) or (cs.state and cs.state.terminated and not finished):
                out.append(Finding(where, _state(cs)))
            elif not init and not cs.ready and cs.state and cs.state.running:
                out.append(Finding(where, "running but not ready (its readiness probe fails)"))
            if cs.restart_count:
                last = cs.last_state.terminated if cs.last_state else None
                ended = f"; last run ended {last.reason} exit={last.exit_code} at {last.finished_at}" if last else ""
                try:
                    tail = [short_log_line(ln) for ln in previous_log(ns, name, cs.name).splitlines() if ln.strip()]
                except Exception as exc:  # noqa: BLE001 - the restart is the finding; its log is a bonus
                    tail = [f"(previous log unavailable: {type(exc).__name__})"]
                out.append(Finding(where, f"restarted {cs.restart_count} time(s){ended}",
                                   tuple(tail[-EVIDENCE_LINES:])))
    return out


def _when(event) -> datetime | None:
    return event.last_timestamp or event.event_time or event.first_timestamp


def event_findings(events: Iterable[Any], since: datetime | None = None) -> list[Finding]:
    """Warning events (since the run began), the most recent MAX_EVENTS, oldest first."""
    warnings = [e for e in events if e.type == "Warning" and (since is None or _when(e) is None or _when(e) >= since)]
    warnings.sort(key=lambda e: (_when(e) is not None, _when(e) or 0))
    out = []
    for e in warnings[-MAX_EVENTS:]:
        obj = e.involved_object
        times = f" ({e.count} times)" if (e.count or 1) > 1 else ""
        out.append(Finding(f"{e.metadata.namespace}/{obj.kind}/{obj.name}", f"event {e.reason}{times}: {e.message}"))
    return out


@dataclass(eq=False)
class ClusterDiagnosis:
    """What the API server says about the run's namespaces, asked when a check fails."""

    connect: Callable[[], Any]  # -> kube.Kube; connected only when asked
    namespaces: tuple[str, ...]
    since: datetime | None = None
    component: str = "cluster"

    @classmethod
    def of(cls, plan: Plan, since: datetime | None = None) -> "ClusterDiagnosis":
        """The run's cluster (its own kubeconfig) and every namespace the plan installs into."""
        from llmd_trace_e2e.platforms.kind.kube import Kube

        opts = plan.options
        namespaces = sorted({ns for ns, _ in plan.releases} | {MONITORING_NAMESPACE, plan.endpoints["namespace"]})
        return cls(lambda: Kube(opts.kubeconfig_path, opts.kube_context), tuple(namespaces), since)

    def findings(self) -> list[Finding]:
        core = self.connect().core

        def previous_log(ns: str, pod: str, container: str) -> str:
            return core.read_namespaced_pod_log(pod, ns, container=container, previous=True,
                                                tail_lines=EVIDENCE_LINES, _request_timeout=API_TIMEOUT_S)

        out: list[Finding] = []
        for ns in self.namespaces:
            out += pod_findings(core.list_namespaced_pod(ns, _request_timeout=API_TIMEOUT_S).items, previous_log)
            out += event_findings(core.list_namespaced_event(ns, _request_timeout=API_TIMEOUT_S).items, self.since)
        return out
