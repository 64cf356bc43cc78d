"""The kind rehearsal: `make e2e`'s kind platform code against a real control plane whose nodes
kwok simulates, so a user's first real run is not that code's first run.

For each CPU profile that plans here, the rehearsal runs the kind platform as on a user's runner
with --use-existing-cluster --kubeconfig (the rehearsal cluster's) and --offline (CRDs from
their Go modules, charts from their Go module or a labelled stand-in, standins.py), up to the
first step that needs a container to answer, where it stops and says so; then `kind down`, and
the cluster must hold exactly what it held before. Then the four failures of faults.py.

    python -m llmd_trace_e2e.platforms.kind.rehearsal [--profile P]... [--artifacts DIR] [--no-faults]
"""
from __future__ import annotations

import dataclasses
import time
from datetime import datetime, timezone
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from llmd_trace_e2e.runtime.errors import ConfigError, HarnessError
from llmd_trace_e2e.runtime.procs import Supervisor
from llmd_trace_e2e.runtime.waits import wait_for
from llmd_trace_e2e.deployment.profiles import load_profile, load_versions, profile_names, resolve_chart
from llmd_trace_e2e.platforms.kind import runner
from llmd_trace_e2e.platforms.kind.diagnostics import ClusterDiagnosis
from llmd_trace_e2e.platforms.kind.kube import Kube
from llmd_trace_e2e.platforms.kind.pods import container_views, list_pods
from llmd_trace_e2e.platforms.kind.options import NAMESPACE, KindOptions, Timeouts
from llmd_trace_e2e.platforms.kind.plan import build_plan
from llmd_trace_e2e.platforms.kind.rehearsal import standins
from llmd_trace_e2e.platforms.kind.rehearsal.cluster import RehearsalCluster
from llmd_trace_e2e.platforms.kind.rehearsal.faults import (
    FAULTS, HALF_WAY, Fault, FaultResult, expect_failure, run_fault)
from llmd_trace_e2e.platforms.kind.rehearsal.inventory import as_found, difference, inventory

Log = Callable[[str], None]
# Every wait of the rehearsal: kwok makes a pod Ready within a second or two of its scheduling.
WAIT_S = 120.0
AS_FOUND_S = 60.0


@dataclass
class ProfileResult:
    profile: str
    steps_run: int = 0
    steps: int = 0
    stopped_before: str | None = None  # the step that needs a container to answer
    failure: str | None = None  # the bring-up's or teardown's error, one line
    up_s: float = 0.0
    down_s: float = 0.0
    left: list[str] = field(default_factory=list)  # the cluster's difference after the teardown
    containers: int = 0  # containers the platform reads back from the pods (what the suite compares to charts)
    findings: list[str] = field(default_factory=list)  # what its diagnosis says of the brought-up cluster
    stand_ins: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failure is None and self.stopped_before is not None and not self.left


@dataclass
class RehearsalReport:
    cluster_ready_s: float = 0.0
    profiles: list[ProfileResult] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # profile -> why it does not plan here
    faults: list[FaultResult] = field(default_factory=list)
    total_s: float = 0.0

    def render(self) -> str:
        out = [f"# kind rehearsal (kwok nodes): control plane ready in {self.cluster_ready_s:.1f}s, "
               f"{self.total_s:.1f}s in all", "",
               "| profile | steps run | stopped before (needs a container) | up | down | containers read | "
               "diagnosis | cluster as found | failure |",
               "|---|---|---|---|---|---|---|---|---|"]
        for p in self.profiles:
            out.append(f"| {p.profile} | {p.steps_run}/{p.steps} | {p.stopped_before or '-'} | {p.up_s:.1f}s | "
                       f"{p.down_s:.1f}s | {p.containers} | {'; '.join(p.findings) or 'nothing wrong'} | "
                       f"{'yes' if not p.left else '; '.join(p.left[:5])} | {p.failure or ''} |")
        out += [f"- {name}: not rehearsed ({why})" for name, why in self.skipped.items()]
        out += [f"- {p.profile}: stand-in {s}" for p in self.profiles for s in p.stand_ins]
        if self.faults:
            out += ["", "| fault | ends with | after |", "|---|---|---|"]
            out += [f"| {f.fault.what} | {f.line.splitlines()[0]} | {f.seconds:.1f}s |" for f in self.faults]
        return "\n".join(out) + "\n"


def cpu_profiles() -> dict[str, str | None]:
    """Every kind profile, with why its CPU plan cannot be built offline here (None: it can)."""
    out: dict[str, str | None] = {}
    for name in profile_names():
        if load_profile(name).platform != "kind":
            continue
        if load_profile(name).kustomize:  # the rehearsal runs --offline; kustomize fetches llm-d's recipe files
            out[name] = "fetches llm-d's recipe files at run time (versions.toml [kustomize.*]); the rehearsal is offline"
            continue
        try:
            build_plan(KindOptions(profile=name, use_existing_cluster=True, kubeconfig=Path("/dev/null"),
                                   artifacts_dir=Path("/tmp/llmd-trace-e2e-rehearsal-probe")))
            out[name] = None
        except HarnessError as exc:
            out[name] = str(exc).splitlines()[0]
    return out


def _options(profile: str, kubeconfig: Path, artifacts: Path) -> KindOptions:
    prof, versions = load_profile(profile), load_versions()
    pins = [resolve_chart(versions, "istio-base"), resolve_chart(versions, "istiod"), *prof.charts.values()]
    dirs = standins.chart_dirs(pins, artifacts / "stand-ins" / profile, versions)
    waits = {name: WAIT_S for name in Timeouts.__dataclass_fields__ if name.endswith(("_ready", "_established",
                                                                                     "_programmed", "_served"))}
    return KindOptions(profile=profile, use_existing_cluster=True, kubeconfig=kubeconfig, offline=True,
                       chart_dirs=dirs, cluster_name=f"rehearsal-{profile}", artifacts_dir=artifacts,
                       timeouts=Timeouts(**waits, command=300))


def rehearse_profile(opts: KindOptions, kube: Kube, log: Log) -> ProfileResult:
    profile = opts.profile
    result = ProfileResult(profile)
    before = inventory(kube)
    result.stand_ins = [f"chart {name} made of {standins.made_of(folder)} ({folder})" for name, folder in opts.chart_dirs]
    started, since = time.monotonic(), datetime.now(timezone.utc)
    try:
        platform = runner.up(opts, log, stop_before=runner.needs_a_container)
        steps = platform.plan.steps
        result.steps = len(steps)
        stopped = platform.plan.stopped_before
        result.steps_run = steps.index(stopped) if stopped is not None else len(steps)
        result.stopped_before = stopped.title if stopped is not None else None
        if stopped is None:
            result.failure = "the plan has no step that needs a container to answer: nothing stopped the rehearsal"
        # what the suite asks of a brought-up platform without a container answering
        result.containers = len(container_views(list_pods(opts.kubeconfig_path, opts.kube_context, NAMESPACE)))
        result.findings = [f"{f.component}: {f.summary}" for f in ClusterDiagnosis.of(platform.plan, since).findings()]
    except HarnessError as exc:  # bring_up removed what it installed already
        result.failure = str(exc).splitlines()[0]
    result.up_s = time.monotonic() - started
    started = time.monotonic()
    try:
        if result.failure is None:
            runner.down(opts, log)
        wait_for(f"the cluster as the {profile} rehearsal found it", as_found(kube, before), AS_FOUND_S)
    except HarnessError as exc:
        result.failure = result.failure or str(exc).splitlines()[0]
        result.left = difference(before, inventory(kube))
    result.down_s = time.monotonic() - started
    return result


# A shared cluster's own content where the run installs too: the monitoring namespace exists
# already, with an object of someone else's. The teardown must leave both (and take the run's
# Jaeger and collector out of that namespace object by object).
TENANT_NAMESPACE, TENANT_OBJECT = "monitoring", "someone-elses-config"


def _someone_elses(kube: Kube) -> None:
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": TENANT_NAMESPACE}})
    kube.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": TENANT_OBJECT, "namespace": TENANT_NAMESPACE},
                "data": {"owner": "not the harness"}})


def _half_way(profile: str, cluster: RehearsalCluster, kube: Kube, artifacts: Path, log: Log) -> FaultResult:
    """The profile's bring-up failing after its Istio releases are installed: they go again."""
    before = inventory(kube)
    opts = _options(profile, cluster.kubeconfig, artifacts / "half-way")
    opts = dataclasses.replace(opts, cluster_name=f"half-way-{profile}",
                               timeouts=dataclasses.replace(opts.timeouts, gateway_programmed=HALF_WAY.wait_s))
    log(f"[rehearsal] fault {HALF_WAY.name}: {HALF_WAY.what} ({profile})")
    result = expect_failure(HALF_WAY, lambda noting: runner.up(opts, noting), opts.run_dir / "diagnostics", log)
    wait_for(f"the cluster as fault {HALF_WAY.name} found it", as_found(kube, before), AS_FOUND_S)
    return result


def rehearse(profiles: Sequence[str] | None, artifacts: Path, log: Log = print,
             faults: Sequence[Fault] = FAULTS) -> RehearsalReport:
    report = RehearsalReport()
    started = time.monotonic()
    planned = cpu_profiles()
    chosen = list(profiles) if profiles else [p for p, why in planned.items() if why is None]
    unknown = [p for p in chosen if p not in planned]
    if unknown:
        raise ConfigError(f"--profile {unknown[0]}: not a kind profile; kind profiles: {', '.join(planned)}")
    report.skipped = {p: why for p, why in planned.items() if why is not None and p not in chosen}
    artifacts.mkdir(parents=True, exist_ok=True)
    with Supervisor(artifacts / "control-plane") as supervisor:
        cluster = RehearsalCluster(supervisor)
        try:
            cluster.start()
            report.cluster_ready_s = cluster.ready_after_s or 0.0
            log(f"[rehearsal] control plane and {len(cluster.node_names)} kwok nodes ready in "
                f"{report.cluster_ready_s:.1f}s (logs: {artifacts / 'control-plane'})")
            kube = Kube(cluster.kubeconfig, None)
            _someone_elses(kube)
            with standins.GatewayProgrammer(kube):
                for profile in chosen:
                    try:
                        opts = _options(profile, cluster.kubeconfig, artifacts)
                    except ConfigError as exc:  # a stand-in it needs cannot be made here
                        report.skipped[profile] = str(exc)
                        log(f"[rehearsal] profile {profile}: NOT REHEARSED: {exc}")
                        continue
                    log(f"[rehearsal] profile {profile}")
                    report.profiles.append(rehearse_profile(opts, kube, log))
            if faults and report.profiles:
                report.faults.append(_half_way(report.profiles[0].profile, cluster, kube, artifacts, log))
            for fault in faults:
                before = inventory(kube)
                log(f"[rehearsal] fault {fault.name}: {fault.what}")
                result = run_fault(fault, cluster.kubeconfig, artifacts / "faults", log)
                wait_for(f"the cluster as fault {fault.name} found it", as_found(kube, before), AS_FOUND_S)
                report.faults.append(result)
        finally:
            cluster.stop()
    report.total_s = time.monotonic() - started
    return report
