"""Readiness probes report what they see, and fail at once on pod states that never recover.
The Kubernetes API is replaced by stand-ins returning the client's object shapes."""
from __future__ import annotations

from types import SimpleNamespace as NS

import pytest

from llmd_trace_e2e.platforms.kind.kube import Kube, ProbeFailed
from llmd_trace_e2e.runtime.waits import Pending


def deployment(name, want, have, release="trace-e2e-ms"):
    return NS(metadata=NS(name=name, annotations={"meta.helm.sh/release-name": release}),
              spec=NS(replicas=want, selector=NS(match_labels={"app": name})),
              status=NS(available_replicas=have, conditions=None))


def pod(name, waiting_reason=None, restarts=0, message="", last_exit=None):
    state = NS(waiting=NS(reason=waiting_reason, message=message) if waiting_reason else None,
               running=None if waiting_reason else NS(started_at="now"))
    last = NS(terminated=NS(exit_code=last_exit, reason="Error")) if last_exit is not None else None
    status = NS(name="vllm", state=state, restart_count=restarts, ready=False, last_state=last)
    return NS(metadata=NS(name=name), status=NS(init_container_statuses=[], container_statuses=[status], conditions=[]))


def kube_with(deployments, pods, log="last line of the crash"):
    kube = Kube.__new__(Kube)  # no kubeconfig: the APIs are stand-ins
    kube.apps = NS(list_namespaced_deployment=lambda ns, **kw: NS(items=deployments))
    kube.core = NS(list_namespaced_pod=lambda ns, **kw: NS(items=pods),
                   read_namespaced_pod_log=lambda *a, **kw: log)
    return kube


def test_pending_names_the_deployment_and_its_pods_state():
    probe = kube_with([deployment("trace-e2e-ms-decode", 1, 0)], [pod("decode-abc", "ContainerCreating")]) \
        .deployments_ready("llm-d", release="trace-e2e-ms")
    state = probe()
    assert isinstance(state, Pending)
    assert "trace-e2e-ms-decode 0/1 available" in state.state and "ContainerCreating" in state.state


def test_a_deployment_still_rolling_out_is_not_ready():
    """A variant changes the model server's Deployment: its old pod stays available until the new
    one is, so availability alone would end the wait before the variant runs."""
    rolling = deployment("trace-e2e-decode", 1, 1, release=None)
    rolling.metadata.generation, rolling.status.observed_generation = 2, 2
    rolling.status.updated_replicas, rolling.status.replicas = 1, 2  # the old pod is still there
    state = kube_with([rolling], []).deployments_ready("llm-d", name="trace-e2e-decode")()
    assert isinstance(state, Pending) and "rolling out" in state.state, state
    rolling.status.replicas = 1
    assert kube_with([rolling], []).deployments_ready("llm-d", name="trace-e2e-decode")() is True


def test_ready_when_every_deployment_of_the_release_is_available():
    kube = kube_with([deployment("a", 1, 1), deployment("other", 1, 0, release="someone-else")], [])
    assert kube.deployments_ready("llm-d", release="trace-e2e-ms")() is True


@pytest.mark.parametrize("reason", ["InvalidImageName", "ImagePullBackOff"])
def test_fatal_pod_states_fail_at_once(reason):
    kube = kube_with([deployment("d", 1, 0)], [pod("p", reason, message="bad ref")])
    with pytest.raises(ProbeFailed, match=f"^pod llm-d/p container vllm: {reason}: bad ref$"):
        kube.deployments_ready("llm-d", release="trace-e2e-ms")()


def test_crash_loop_fails_at_once_in_one_line_with_the_last_log_line():
    kube = kube_with([deployment("d", 1, 0)], [pod("p", "CrashLoopBackOff", restarts=1, last_exit=1)])
    with pytest.raises(ProbeFailed, match="^pod llm-d/p container vllm: CrashLoopBackOff \\(1 restarts, last exit 1 "
                                          "\\(Error\\)\\); last log line: last line of the crash$"):
        kube.deployments_ready("llm-d", release="trace-e2e-ms")()


def test_a_deployment_whose_pods_cannot_be_created_fails_at_once():
    dep = deployment("d", 1, 0)
    dep.metadata.namespace = "llm-d"
    dep.status.conditions = [NS(type="ReplicaFailure", status="True", reason="FailedCreate",
                                message='pods "d-1" is forbidden: error looking up service account llm-d/x')]
    with pytest.raises(ProbeFailed, match="^Deployment llm-d/d gets no pods: FailedCreate: pods .* is forbidden"):
        kube_with([dep], []).deployments_ready("llm-d", release="trace-e2e-ms")()


def test_a_running_pod_that_is_not_ready_is_named_while_waiting():
    state = kube_with([deployment("d", 1, 0)], [pod("p")]).deployments_ready("llm-d", release="trace-e2e-ms")()
    assert isinstance(state, Pending) and "pod llm-d/p container vllm: running, not Ready" in state.state, state


def test_gpus_allocatable_reports_per_node():
    kube = Kube.__new__(Kube)
    nodes = [NS(metadata=NS(name="w"), status=NS(allocatable={"nvidia.com/gpu": "1"}))]
    kube.core = NS(list_node=lambda **kw: NS(items=nodes))
    assert kube.gpus_allocatable(1)() is True
    assert kube.gpus_allocatable(2)().state == "nvidia.com/gpu allocatable: {'w': 1}"


class RecordingResource:
    """Stands in for a dynamic-client resource: records what server-side apply was asked."""

    def __init__(self, namespaced):
        self.namespaced, self.calls = namespaced, []

    def server_side_apply(self, **kwargs):
        self.calls.append(kwargs)


def kube_applying_to(resource):
    kube = Kube.__new__(Kube)
    kube._resource = lambda api_version, kind: resource
    return kube


def test_dry_run_apply_asks_for_dry_run_all_and_fills_in_the_release_namespace():
    resource = RecordingResource(namespaced=True)
    kube_applying_to(resource).apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "epp"}},
                                     dry_run=True, namespace="llm-d")
    assert resource.calls[0]["dry_run"] == "All" and resource.calls[0]["namespace"] == "llm-d"


def test_a_plain_apply_is_not_a_dry_run_and_cluster_objects_get_no_namespace():
    resource = RecordingResource(namespaced=False)
    kube_applying_to(resource).apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "llm-d"}},
                                     namespace="ignored")
    assert resource.calls[0]["dry_run"] is None and resource.calls[0]["namespace"] is None
