"""The kind platform's diagnosis of a failed check: pods not running, containers waiting, failed,
not ready or restarted (with their previous log's last lines), warning events since the run
began; an API server that does not answer is a finding, not a traceback. The API objects are
the kubernetes client's own models, served by a FAKE CoreV1Api."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from kubernetes.client import (CoreV1Event, V1ContainerState, V1ContainerStateRunning, V1ContainerStateTerminated,
                               V1ContainerStateWaiting, V1ContainerStatus, V1ObjectMeta, V1ObjectReference, V1Pod,
                               V1PodCondition, V1PodStatus)

from llmd_trace_e2e.platforms.kind.diagnostics import ClusterDiagnosis, event_findings, pod_findings
from llmd_trace_e2e.platforms.kind.options import MONITORING_NAMESPACE, NAMESPACE
from llmd_trace_e2e.traces.assertions import SpansExist, TraceAssertionError, expect

STARTED = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def container(name, state, ready=True, restarts=0, last=None):
    return V1ContainerStatus(name=name, image="img", image_id="", ready=ready, restart_count=restarts, state=state,
                             last_state=V1ContainerState(terminated=last) if last else None)


def pod(name, *containers, phase="Running", conditions=None, ns=NAMESPACE, init=()):
    return V1Pod(metadata=V1ObjectMeta(name=name, namespace=ns),
                 status=V1PodStatus(phase=phase, conditions=conditions, container_statuses=list(containers),
                                    init_container_statuses=list(init)))


RUNNING = V1ContainerState(running=V1ContainerStateRunning(started_at=STARTED))


def healthy():
    done = V1ContainerState(terminated=V1ContainerStateTerminated(exit_code=0, reason="Completed"))
    return pod("epp-0", container("epp", RUNNING), init=[container("init", done, ready=False)])


def crash_looping():
    waiting = V1ContainerState(waiting=V1ContainerStateWaiting(reason="CrashLoopBackOff", message="back-off 40s"))
    last = V1ContainerStateTerminated(exit_code=137, reason="OOMKilled", finished_at=STARTED)
    return pod("decode-0", container("vllm", waiting, ready=False, restarts=3, last=last))


def unschedulable():
    cond = V1PodCondition(type="PodScheduled", status="False", reason="Unschedulable",
                          message="0/1 nodes are available: 1 Insufficient nvidia.com/gpu.")
    return pod("prefill-0", phase="Pending", conditions=[cond])


def not_ready():
    return pod("collector-0", container("otelcol", RUNNING, ready=False), ns=MONITORING_NAMESPACE)


def event(reason, message, at, kind="Warning", count=1, ns=NAMESPACE):
    return CoreV1Event(metadata=V1ObjectMeta(namespace=ns), involved_object=V1ObjectReference(kind="Pod", name="decode-0"),
                       type=kind, reason=reason, message=message, count=count, last_timestamp=at)


def no_previous_log(ns, pod, container):
    raise AssertionError("asked for the previous log of a container that never restarted")


def test_a_healthy_pod_says_nothing():
    assert pod_findings([healthy()], no_previous_log) == []


def test_pod_problems_are_named_with_their_reasons():
    logs = {("llm-d", "decode-0", "vllm"): "line 1\nline 2\nKilled\n"}
    found = pod_findings([crash_looping(), unschedulable(), not_ready()], lambda *key: logs[key])
    by_where = {(f.component, f.summary): f.evidence for f in found}
    assert ("llm-d/decode-0/vllm", "waiting: CrashLoopBackOff: back-off 40s") in by_where
    restarts = by_where[("llm-d/decode-0/vllm", f"restarted 3 time(s); last run ended OOMKilled exit=137 at {STARTED}")]
    assert restarts == ("line 1", "line 2", "Killed")
    assert by_where[("llm-d/prefill-0", "pod is Pending")] == (
        "PodScheduled: Unschedulable: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu.",)
    assert ("monitoring/collector-0/otelcol", "running but not ready (its readiness probe fails)") in by_where


def test_a_previous_log_that_cannot_be_read_leaves_the_restart_standing():
    def broken(*_):
        raise ConnectionError("refused")

    [_, restart] = pod_findings([crash_looping()], broken)
    assert restart.summary.startswith("restarted 3 time(s)")
    assert restart.evidence == ("(previous log unavailable: ConnectionError)",)


def test_only_warning_events_since_the_run_began():
    events = [event("BackOff", "Back-off restarting failed container", STARTED + timedelta(minutes=2), count=5),
              event("Pulled", "image pulled", STARTED + timedelta(minutes=1), kind="Normal"),
              event("FailedMount", "an old one", STARTED - timedelta(hours=1))]
    found = event_findings(events, since=STARTED)
    assert [(f.component, f.summary) for f in found] == [
        ("llm-d/Pod/decode-0", "event BackOff (5 times): Back-off restarting failed container")]
    assert len(event_findings(events)) == 2  # without `since`, the old warning too (never the Normal one)


class FakeCore:
    """A FAKE CoreV1Api: the pods and events of each namespace, and the previous logs."""

    def __init__(self, pods, events):
        self.pods, self.events, self.asked = pods, events, []

    def list_namespaced_pod(self, ns, **_):
        self.asked.append(ns)
        return SimpleNamespace(items=[p for p in self.pods if p.metadata.namespace == ns])

    def list_namespaced_event(self, ns, **_):
        return SimpleNamespace(items=[e for e in self.events if e.metadata.namespace == ns])

    def read_namespaced_pod_log(self, pod, ns, container, previous, tail_lines, **_):
        assert previous and tail_lines
        return "Killed\n"


def failed_check(diagnosis) -> str:
    with pytest.raises(TraceAssertionError) as info:
        expect(lambda: [], [SpansExist("vllm-decode", "llm_request")], timeout_s=0.1, diagnosis=diagnosis)
    return str(info.value)


def test_a_failed_check_on_kind_carries_the_clusters_diagnosis():
    core = FakeCore([healthy(), crash_looping(), not_ready()],
                    [event("BackOff", "Back-off restarting failed container", STARTED + timedelta(minutes=2))])
    diagnosis = ClusterDiagnosis(lambda: SimpleNamespace(core=core), (MONITORING_NAMESPACE, NAMESPACE), STARTED)
    text = failed_check(diagnosis)
    assert "diagnosis:\n- monitoring/collector-0/otelcol: running but not ready" in text, text
    assert "- llm-d/decode-0/vllm: waiting: CrashLoopBackOff: back-off 40s\n" in text
    assert "- llm-d/decode-0/vllm: restarted 3 time(s); last run ended OOMKilled exit=137" in text
    assert "    Killed" in text
    assert "- llm-d/Pod/decode-0: event BackOff: Back-off restarting failed container" in text
    assert "epp-0" not in text  # the healthy pod: the positive control
    assert core.asked == [MONITORING_NAMESPACE, NAMESPACE]


def test_an_api_server_that_does_not_answer_is_a_finding():
    def connect():
        raise ConnectionError("https://127.0.0.1:1: Connection refused")

    text = failed_check(ClusterDiagnosis(connect, (NAMESPACE,)))
    assert "diagnosis:\n- cluster: could not be checked: ConnectionError: https://127.0.0.1:1: Connection refused" in text


def test_the_diagnosis_looks_at_every_namespace_the_run_installs_into(make_plan):
    plan = make_plan()
    diagnosis = ClusterDiagnosis.of(plan, since=STARTED)
    assert {MONITORING_NAMESPACE, NAMESPACE} | {ns for ns, _ in plan.releases} == set(diagnosis.namespaces)
    assert diagnosis.since == STARTED
