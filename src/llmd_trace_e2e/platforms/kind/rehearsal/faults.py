"""The failures the kind platform must report, scripted with kwok's pod stages: each is a small
plan (a namespace and one Deployment) run through the kind runner's own bring-up, which must end
in one line naming the pod and the reason, soon after the failure, with the diagnostics the
platform collects, and leave nothing behind."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from llmd_trace_e2e.runtime.errors import HarnessError
from llmd_trace_e2e.deployment.profiles import load_profile
from llmd_trace_e2e.platforms.kind import manifests, runner
from llmd_trace_e2e.platforms.kind.options import KindOptions, Timeouts
from llmd_trace_e2e.platforms.kind.plan import Apply, Plan, Wait
from llmd_trace_e2e.platforms.kind.rehearsal.cluster import FAULT_ANNOTATION

NAMESPACE = "rehearsal-faults"
IMAGE = "registry.invalid/llmd-trace-e2e/rehearsal:0"  # never pulled: kwok plays the node


@dataclass(frozen=True)
class Fault:
    name: str
    what: str
    expect: str  # a regular expression the one-line failure must match
    annotation: str | None = None  # the kwok stage's fault (config/rehearsal/kwok-stages.yaml)
    service_account: str | None = None  # one that does not exist: the ReplicaSet cannot create the pod
    wait_s: float = 60.0  # the wait's timeout: only a pod that never becomes Ready runs it out
    ends_by: str = "ProbeFailed"  # the error that ends the wait: at once, or (WaitTimeout) at its timeout


FAULTS = (
    Fault("image-pull", "an image that cannot be pulled",
          r"^pod rehearsal-faults/rehearsal-image-pull-\S+ container server: ImagePullBackOff: Back-off pulling image",
          annotation="image-pull"),
    Fault("crash-loop", "a container that crash-loops",
          r"^pod rehearsal-faults/rehearsal-crash-loop-\S+ container server: CrashLoopBackOff \(3 restarts, last exit 1 "
          r"\(Error\)\); last log line: none \(no kubelet answers for the pod's node\)$",
          annotation="crash-loop"),
    Fault("never-ready", "a pod that never becomes Ready",
          r"^timed out after 10s waiting for .*pod rehearsal-faults/rehearsal-never-ready-\S+ container server: "
          r"running, not Ready", annotation="never-ready", wait_s=10.0, ends_by="WaitTimeout"),
    Fault("no-pods", "a Deployment that never gets its pods",
          r"^Deployment rehearsal-faults/rehearsal-no-pods gets no pods: FailedCreate: .*serviceaccount "
          r"\"rehearsal-missing\" not found", service_account="rehearsal-missing"),
)


@dataclass
class FaultResult:
    fault: Fault
    line: str  # the failure's message, as the run shows it
    seconds: float  # from the start of the bring-up to its failure (before diagnostics and teardown)
    diagnostics: Path
    error: str = ""  # the error's type: ProbeFailed ends a wait at once, WaitTimeout runs out its clock


def _objects(fault: Fault) -> list[dict]:
    pod_meta = {"labels": {"app": f"rehearsal-{fault.name}"}}
    if fault.annotation:
        pod_meta["annotations"] = {FAULT_ANNOTATION: fault.annotation}
    pod_spec = {"containers": [{"name": "server", "image": IMAGE}]}
    if fault.service_account:
        pod_spec["serviceAccountName"] = fault.service_account
    return manifests.namespaces(NAMESPACE) + [{
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": f"rehearsal-{fault.name}", "namespace": NAMESPACE},
        "spec": {"replicas": 1, "selector": {"matchLabels": pod_meta["labels"]},
                 "template": {"metadata": pod_meta, "spec": pod_spec}}}]


def fault_plan(fault: Fault, kubeconfig: Path, artifacts: Path) -> Plan:
    """The fault's namespace and Deployment, applied and waited for, on the cluster as an existing one."""
    opts = KindOptions(use_existing_cluster=True, kubeconfig=kubeconfig, cluster_name=f"fault-{fault.name}",
                       artifacts_dir=artifacts, timeouts=Timeouts(epp_ready=fault.wait_s, command=120))
    plan = Plan(opts, load_profile(opts.profile))
    path = plan.add_file("fault.yaml", manifests.dump_all(_objects(fault), f"rehearsal fault: {fault.what}"))
    plan.steps += [Apply(f"fault {fault.name}: {fault.what}", path),
                   Wait(f"Deployment rehearsal-{fault.name} ready", "deployments", "epp_ready", NAMESPACE,
                        name=f"rehearsal-{fault.name}")]
    plan.releases = []
    plan.endpoints = {"namespace": NAMESPACE}
    return plan


# Half-way through a profile's bring-up, with its first helm releases installed: the Gateway is
# never programmed (the rehearsal's stand-in for istiod is not running then).
HALF_WAY = Fault("gateway-never-programmed", "a Gateway never programmed, half-way through a profile's bring-up",
                 r"^timed out after 3s waiting for Gateway programmed; last state: Gateway llm-d/\S+ Programmed=Unknown",
                 wait_s=3.0, ends_by="WaitTimeout")


def expect_failure(fault: Fault, bring_up: Callable[[Callable[[str], None]], object], diagnostics: Path,
                   log: Callable[[str], None]) -> FaultResult:
    """Run a bring-up that must fail; its line, and the seconds until the run said so (the run says
    "set-up failed" before its diagnostics and teardown)."""
    started = time.monotonic()
    failed_at: list[float] = []

    def noting(line: str) -> None:
        if line.startswith("[kind] set-up failed") and not failed_at:
            failed_at.append(time.monotonic() - started)
        log(line)

    try:
        bring_up(noting)
    except HarnessError as exc:
        seconds = failed_at[0] if failed_at else time.monotonic() - started
        return FaultResult(fault, str(exc), seconds, diagnostics, type(exc).__name__)
    raise HarnessError(f"fault {fault.name} ({fault.what}): the bring-up succeeded; the fault did not apply")


def run_fault(fault: Fault, kubeconfig: Path, artifacts: Path, log: Callable[[str], None]) -> FaultResult:
    plan = fault_plan(fault, kubeconfig, artifacts)
    return expect_failure(fault, lambda noting: runner.bring_up(plan, noting), plan.options.run_dir / "diagnostics",
                          log)
