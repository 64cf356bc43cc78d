"""The kind platform's own code against a real control plane whose nodes kwok simulates (issue
25): each CPU profile's plan runs as on a user's runner (--use-existing-cluster --kubeconfig,
--offline) up to the first step that needs a container to answer, `kind down` leaves the cluster
as it was found; and four scripted failures each end in one line naming the pod and the reason,
with the diagnostics the platform collects. The report (times included) is in the test's output."""
from __future__ import annotations

import re
import shutil

import pytest

from llmd_trace_e2e.runtime.errors import ToolMissing
from llmd_trace_e2e.runtime.paths import tool
from llmd_trace_e2e.platforms.kind.rehearsal.faults import FAULTS
from llmd_trace_e2e.platforms.kind.rehearsal.inventory import difference
from llmd_trace_e2e.platforms.kind.rehearsal.run import cpu_profiles, rehearse

pytestmark = pytest.mark.integration
TOOLS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "helm")
PROFILES = [name for name, why in cpu_profiles().items() if why is None]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    for name in TOOLS:
        try:
            tool(name)
        except ToolMissing as exc:
            pytest.skip(f"SKIPPED LOUDLY: the kind rehearsal needs {exc} (make tools-rehearse)")
    if shutil.which("go") is None:
        pytest.skip("SKIPPED LOUDLY: the rehearsal's CRDs and charts come from Go modules: put Go 1.26+ on PATH")
    artifacts = tmp_path_factory.mktemp("rehearsal")
    lines: list[str] = []
    result = rehearse(None, artifacts, lines.append)
    (artifacts / "rehearsal.log").write_text("\n".join(lines) + "\n")
    print(result.render())
    return result, artifacts


@pytest.mark.parametrize("profile", PROFILES)
def test_the_profile_comes_up_to_the_first_step_that_needs_a_container_and_leaves_the_cluster_as_found(
        report, profile):
    result, artifacts = report
    [p] = [p for p in result.profiles if p.profile == profile]
    where = f"(log: {artifacts / 'rehearsal.log'}, run folder: {artifacts / 'kind' / f'rehearsal-{profile}'})"
    assert p.failure is None, f"the {profile} rehearsal failed: {p.failure} {where}"
    assert p.stopped_before == "the gateway serves the model", \
        f"expected the rehearsal to stop before the gateway's HTTP check, it stopped before {p.stopped_before} {where}"
    assert p.steps_run == p.steps - 1, f"{p.steps_run} of {p.steps} steps ran {where}"
    assert not p.left, f"the teardown did not leave the cluster as found: {p.left} {where}"


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_a_scripted_failure_ends_in_one_line_naming_the_pod_and_the_reason(report, fault):
    result, artifacts = report
    [f] = [f for f in result.faults if f.fault == fault]
    assert "\n" not in f.line and re.search(fault.expect, f.line), \
        f"{fault.what}: expected one line matching {fault.expect!r}, the run said: {f.line!r}"
    assert f.error == fault.ends_by, \
        f"{fault.what}: the wait ended by {f.error}, expected {fault.ends_by} (at once, not at its timeout)"


def test_the_diagnostics_name_status_restarts_and_events_and_note_the_missing_logs(report):
    result, _ = report
    [crash] = [f for f in result.faults if f.fault.name == "crash-loop"]
    pods = (crash.diagnostics / "pods.txt").read_text()
    assert re.search(r"rehearsal-faults/rehearsal-crash-loop-\S+\s+phase=Running", pods) and \
        "restarts=3 waiting CrashLoopBackOff" in pods and "last=terminated Error exit=1" in pods, f"pods.txt lacks the crash-looping pod's state: {pods}"
    events = (crash.diagnostics / "events.txt").read_text()
    assert "BackOff" in events, f"events.txt lacks the pod's BackOff event: {events}"
    notes = (crash.diagnostics / "logs-unavailable.txt").read_text()
    assert "rehearsal-crash-loop" in notes and "no kubelet" in notes, f"the absent container logs are not noted: {notes}"
    assert not (crash.diagnostics / "errors.txt").exists(), (crash.diagnostics / "errors.txt").read_text()


def test_the_as_found_check_sees_an_object_added_and_one_removed():
    """Positive control for 'leaves the cluster as found': the inventory's difference names them."""
    before = frozenset({("", "ConfigMap", "default", "kept"), ("", "ConfigMap", "default", "taken")})
    after = frozenset({("", "ConfigMap", "default", "kept"), ("", "ConfigMap", "default", "added")})
    assert difference(before, after) == ["left behind: ConfigMap default/added",
                                         "removed, was there before: ConfigMap default/taken"]
