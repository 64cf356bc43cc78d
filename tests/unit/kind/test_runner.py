"""`up` owns what it creates: a cluster made by a run that fails half-way is deleted (after the
diagnostics are collected) unless --keep-cluster; a reused cluster is left standing. The kind
binary is a fake script that records its calls; the Kubernetes API is a fake that fails."""
from __future__ import annotations

import pytest

from llmd_trace_e2e.errors import HarnessError
from llmd_trace_e2e.kind import runner
from llmd_trace_e2e.kind.options import KindOptions
from llmd_trace_e2e.kind.preflight import PreflightResult

FAKE_KIND = """echo "$@" >> {log}
prev=""
for a in "$@"; do
  if [ "$prev" = "--kubeconfig" ]; then echo "apiVersion: v1  # FAKE" > "$a"; fi
  prev="$a"
done"""


class FailingKube:
    """Stands in for the Kubernetes API: the first apply fails, as a broken cluster would."""

    def __init__(self, kubeconfig, context):
        self.kubeconfig = kubeconfig

    def apply_text(self, text, source):
        raise HarnessError(f"applying {source} failed: FAKE API says no")


@pytest.fixture
def failing_run(fake_bin, tmp_path, monkeypatch):
    calls = tmp_path / "kind-calls.txt"
    kind = fake_bin("kind", FAKE_KIND.format(log=calls))
    collected = []
    monkeypatch.setattr(runner, "Kube", FailingKube)
    monkeypatch.setattr(runner.diagnostics, "collect", lambda plan, dest, tools: collected.append(dest))

    def run(state: str, **options):
        monkeypatch.setattr(runner, "run_preflight",
                            lambda plan, host=None: PreflightResult({"kind": str(kind), "helm": "helm"}, state))
        opts = KindOptions(profile="latest", artifacts_dir=tmp_path / "artifacts", **options)
        with pytest.raises(HarnessError, match="FAKE API says no"):
            runner.up(opts, log=lambda line: None)
        return calls.read_text().splitlines(), collected, opts
    return run


def test_failed_setup_deletes_the_cluster_it_created(failing_run):
    calls, collected, opts = failing_run("absent")
    assert calls[0].startswith("create cluster --name llmd-trace-e2e --config ")
    assert calls[-1] == "delete cluster --name llmd-trace-e2e"
    assert collected == [opts.run_dir / "diagnostics"]
    assert (opts.kubeconfig_path.stat().st_mode & 0o777) == 0o600


def test_keep_cluster_keeps_it_for_debugging(failing_run):
    calls, collected, _ = failing_run("absent", keep_cluster=True)
    assert not any(c.startswith("delete") for c in calls)
    assert collected


def test_a_reused_cluster_is_left_standing(failing_run):
    calls, collected, opts = failing_run("harness")
    assert calls == [f"export kubeconfig --name llmd-trace-e2e --kubeconfig {opts.kubeconfig_path}"]
    assert collected
