"""`up` owns what it creates, with pytest-kind's KindCluster in the loop: a cluster made by a run
that fails half-way (also one whose `kind create` itself failed half-way) is deleted after the
diagnostics are collected, unless --keep-cluster; a reused cluster is left standing; the kind
commands pytest-kind runs are the ones the plan shows. Faked only at the process boundary: kind
and helm are shell scripts (each says it is a fake) that record their calls, and the kubeconfig
they write points at a closed 127.0.0.1 port, so no Kubernetes API answers."""
from __future__ import annotations

import shlex
from types import SimpleNamespace

import pytest

from llmd_trace_e2e.runtime.errors import HarnessError, ToolMissing
from llmd_trace_e2e.platforms.kind import runner
from llmd_trace_e2e.platforms.kind.cluster import CommandFailed, HarnessKindCluster
from llmd_trace_e2e.platforms.kind.options import KindOptions, Timeouts
from llmd_trace_e2e.platforms.kind.plan import Command, build_plan
from llmd_trace_e2e.platforms.kind.preflight import PreflightResult
from llmd_trace_e2e.runtime.ports import free_ports

# A fake kind: clusters are files in $STATE; every call is appended to $CALLS.
# FAIL_ON=create fails after making the cluster (a half-made one); FAIL_ON=IMAGE fails loading IMAGE.
FAKE_KIND = """CALLS={calls}; STATE={state}; FAIL_ON={fail_on}; HANG_ON={hang_on}
echo "$@" >> "$CALLS"
name=""; kubeconfig=""; prev=""
for a in "$@"; do
  case "$a" in --name=*) name="${{a#--name=}}" ;; --kubeconfig=*) kubeconfig="${{a#--kubeconfig=}}" ;; esac
  [ "$prev" = "--name" ] && name="$a"
  [ "$prev" = "--kubeconfig" ] && kubeconfig="$a"
  prev="$a"
done
write_kubeconfig() {{
  cat > "$kubeconfig" <<EOF
apiVersion: v1  # FAKE
kind: Config
clusters: [{{name: kind-$name, cluster: {{server: "https://127.0.0.1:{port}"}}}}]
users: [{{name: kind-$name, user: {{token: FAKE}}}}]
contexts: [{{name: kind-$name, context: {{cluster: kind-$name, user: kind-$name}}}}]
current-context: kind-$name
EOF
}}
[ "$1" = "$HANG_ON" ] && exec sleep 60
case "$1 $2" in
  "get clusters") ls "$STATE" ;;
  "create cluster") touch "$STATE/$name"
     if [ "$FAIL_ON" = create ]; then echo "ERROR: failed to create cluster: FAKE kubeadm init timed out" >&2; exit 1; fi
     write_kubeconfig ;;
  "export kubeconfig") write_kubeconfig ;;
  "load docker-image") if [ "$FAIL_ON" = "$5" ]; then echo "ERROR: image: \\"$5\\" not present locally (FAKE)" >&2; exit 1; fi ;;
  "delete cluster") rm -f "$STATE/$name" ;;
esac"""


@pytest.fixture
def fake_kind(fake_bin, tmp_path):
    calls, state = tmp_path / "kind-calls.txt", tmp_path / "kind-clusters"
    state.mkdir()
    port = free_ports(1)[0]

    def make(fail_on: str = "-", hang_on: str = "-"):
        path = fake_bin("kind", FAKE_KIND.format(calls=calls, state=state, fail_on=fail_on, hang_on=hang_on,
                                                 port=port))
        return SimpleNamespace(path=path, calls=calls, state=state)
    return make


@pytest.fixture
def run_up(fake_kind, fake_bin, tmp_path, monkeypatch):
    """runner.up with the fake tools; returns (kind calls as argv lists, options, the exception)."""
    helm = fake_bin("helm", 'echo "helm $*" >> ' + str(tmp_path / "helm-calls.txt"))

    def run(state: str, fail_on: str = "-", hang_on: str = "-", expect: str = "", **options):
        kind = fake_kind(fail_on, hang_on)
        if state == "harness":
            (kind.state / "llmd-trace-e2e").touch()
        tools = {"kind": str(kind.path), "helm": str(helm)}
        monkeypatch.setattr(runner, "run_preflight", lambda plan, host=None: PreflightResult(tools, state))
        opts = KindOptions(profile="helmfile-guide", artifacts_dir=tmp_path / "artifacts", **options)
        with pytest.raises(HarnessError, match=expect) as failure:
            runner.up(opts, log=lambda line: None)
        calls = [shlex.split(line) for line in kind.calls.read_text().splitlines()]
        return calls, opts, failure.value
    return run


def mutating(calls):
    return [c for c in calls if c[:2] not in (["get", "clusters"], ["export", "logs"])]


def test_failed_setup_deletes_the_cluster_it_created(run_up):
    # create succeeds; the first apply finds no Kubernetes API behind the kubeconfig
    calls, opts, _ = run_up("absent", expect="applying")
    plan = build_plan(opts)
    assert mutating(calls)[0] == list(plan.steps[0].argv[1:]), "KindCluster.create ran what the plan shows"
    assert mutating(calls)[-1] == ["delete", "cluster", "--name=llmd-trace-e2e", f"--kubeconfig={opts.kubeconfig_path}"]
    assert (opts.run_dir / "diagnostics").is_dir(), "diagnostics are collected before the delete"
    assert (opts.kubeconfig_path.stat().st_mode & 0o777) == 0o600


def test_a_half_failed_create_is_deleted_and_says_why(run_up):
    calls, opts, error = run_up("absent", fail_on="create", expect="create or reuse kind cluster")
    assert isinstance(error, CommandFailed)
    assert "exited 1: ERROR: failed to create cluster: FAKE kubeadm init timed out" in str(error), \
        "the command's stderr (which pytest-kind lets through) is in the error"
    assert "(log: " in str(error)
    assert [c[:2] for c in mutating(calls)] == [["create", "cluster"], ["delete", "cluster"]]


def test_keep_cluster_keeps_it_for_debugging(run_up):
    calls, opts, _ = run_up("absent", fail_on="create", expect="FAKE kubeadm", keep_cluster=True)
    assert not any(c[0] == "delete" for c in calls)
    assert (opts.run_dir / "diagnostics").is_dir()


def test_a_reused_cluster_is_left_standing(run_up):
    calls, opts, _ = run_up("harness", expect="applying")
    assert mutating(calls) == [["export", "kubeconfig", "--name", "llmd-trace-e2e", "--kubeconfig",
                                str(opts.kubeconfig_path)]]


def test_images_load_through_kindcluster_as_the_plan_shows(run_up):
    calls, opts, error = run_up("absent", fail_on="localhost/epp:pr-1", expect="load localhost/epp:pr-1",
                                load_images=("localhost/app:ok", "localhost/epp:pr-1"))
    planned = [list(s.argv[1:]) for s in build_plan(opts).steps if isinstance(s, Command) and s.argv[0] == "kind"
               and s.only_if != "cluster-present"]
    assert mutating(calls)[:3] == planned
    assert 'image: "localhost/epp:pr-1" not present locally (FAKE)' in str(error)
    assert mutating(calls)[-1][:2] == ["delete", "cluster"], "a load that fails after create deletes the cluster"


def test_a_hanging_kind_is_ended_at_its_timeout(run_up):
    _, _, error = run_up("absent", hang_on="create", expect="still running after 1s",
                         timeouts=Timeouts(cluster_create=1))
    assert "kind create cluster" in str(error)


def test_down_deletes_through_kindcluster(fake_kind, tmp_path, monkeypatch):
    kind = fake_kind()
    (kind.state / "llmd-trace-e2e").touch()
    monkeypatch.setattr("llmd_trace_e2e.runtime.paths.tool", lambda name: kind.path)
    monkeypatch.setattr("llmd_trace_e2e.platforms.kind.kube.harness_owned", lambda path: True)
    opts = KindOptions(artifacts_dir=tmp_path / "artifacts")
    runner.down(opts, log=lambda line: None)
    assert not (kind.state / "llmd-trace-e2e").exists()
    runner.down(opts, log=lambda line: None)  # absent now: nothing to do
    deletes = [line for line in kind.calls.read_text().splitlines() if line.startswith("delete")]
    assert deletes == [f"delete cluster --name=llmd-trace-e2e --kubeconfig={opts.kubeconfig_path}"]


def test_no_download_when_the_pinned_kind_is_missing(tmp_path):
    cluster = HarnessKindCluster("x", tmp_path / "kubeconfig", tmp_path / "no-kind")
    with pytest.raises(ToolMissing, match=r"kind not found at .*no-kind: run `make tools`"):
        cluster.create_cluster(tmp_path / "cluster.yaml", tmp_path / "log", 10)
    assert not (tmp_path / ".pytest-kind").exists() and not any(tmp_path.glob("kind-*"))
