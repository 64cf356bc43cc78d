"""`llmd-trace-e2e local up|status|down` and the suite attached to the stack, for real: the
commands run as a person runs them (subprocesses), the leak guard (tests/faults/leaks.py)
proves `down` and an interrupted `up` leave nothing behind (processes, ports, the control
plane's credentials folder, vLLM's scratch, shared memory). These start vLLM: run them under
`flock /tmp/vllm.lock`, never beside another local platform."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.platforms.local.attached import AttachedPlatform
from llmd_trace_e2e.platforms.local.stack import check_components
from llmd_trace_e2e.platforms.local.state import ProcessRef, StackState, read_state, running_state, state_path
from llmd_trace_e2e.runtime.paths import repo_root
from llmd_trace_e2e.platforms.choose import RunOptions
from llmd_trace_e2e.traffic import completions as traffic
from tests.faults.leaks import LeakGuard

ROOT = repo_root()
SEED = int(os.environ.get("LLMD_TRACE_E2E_FAULT_SEED") or random.SystemRandom().randrange(10**6))
TRACED_GATEWAY = {"gateway": {"tracing": {"enabled": True}}}


def local(*args: str, env: dict, timeout_s: float = 700) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmd_trace_e2e.commands.cli", "local", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout_s)


def said(run: subprocess.CompletedProcess) -> str:
    return f"exit {run.returncode}\n--- stdout ---\n{run.stdout[-3000:]}\n--- stderr ---\n{run.stderr[-3000:]}"


@pytest.fixture
def guard():
    watching = LeakGuard()
    yield watching


def pids(state: StackState) -> dict[str, int]:
    return {c.name: c.pid for c in state.components}


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_up_status_attach_and_down_leave_nothing(guard, tmp_path):
    artifacts = tmp_path / "artifacts"
    path = state_path(artifacts)
    with guard:
        env = guard.env()
        try:
            up = local("up", "--artifacts", str(artifacts), env=env)
            assert up.returncode == 0, f"`local up` failed: {said(up)}"
            state = running_state(path)
            for line in (state.gateway_url, state.trace_query_url, state.collector_otlp_grpc,
                         state.collector_otlp_http, state.run_dir):
                assert line in up.stdout, f"`local up` did not print {line}: {said(up)}"

            status = local("status", "--artifacts", str(artifacts), env=env, timeout_s=60)
            assert status.returncode == 0, f"`local status` on a healthy stack: {said(status)}"
            for name in ("server", "jaeger", "collector", "etcd", "kube-apiserver", "epp", "gateway", "vllm-decode"):
                assert f"{name:<20} ok" in status.stdout, f"`local status` does not say {name} is ok: {said(status)}"

            # Attached: a request through the stack, then a variant that restarts only the gateway, put back.
            options = RunOptions(artifacts=artifacts, attach=True)
            AttachedPlatform.check_options(options)
            with AttachedPlatform.running(options) as attached:
                done = traffic.send(attached.gateway_url, attached.model)
                assert done.status == 200
                before = pids(read_state(path))
                attached.apply_variant(TRACED_GATEWAY)
                assert attached.gateway_service is not None, "the traced-gateway variant did not take"
                during = pids(read_state(path))
                assert traffic.send(attached.gateway_url, attached.model).status == 200
                assert during["gateway"] != before["gateway"], "the variant did not restart the gateway"
                assert {k: v for k, v in during.items() if k != "gateway"} == \
                       {k: v for k, v in before.items() if k != "gateway"}, \
                    f"the gateway variant restarted other components: before {before}, during {during}"
            after = read_state(path)
            assert after.values == after.baseline, "the attached session did not put the stack's values back"
            assert pids(after)["vllm-decode"] == before["vllm-decode"]

            # A component down: status says which, and fails.
            gateway = next(c for c in after.components if c.name == "gateway")
            os.killpg(gateway.pid, signal.SIGKILL)
            time.sleep(0.5)
            status = local("status", "--artifacts", str(artifacts), env=env, timeout_s=60)
            assert status.returncode == 1 and "down: gateway" in status.stderr, \
                f"`local status` with the gateway killed should exit 1 naming it: {said(status)}"
        finally:
            down = local("down", "--artifacts", str(artifacts), env=env, timeout_s=180)
    assert down.returncode == 0, f"`local down` failed: {said(down)}"
    assert not path.exists(), f"`local down` left the state file {path}"
    assert guard.seen, "no process of the stack was seen: the guard watched nothing"
    guard.assert_clean()


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_ctrl_c_during_up_leaves_nothing(guard, tmp_path):
    artifacts = tmp_path / "artifacts"
    # Somewhere in the start, before it can be over: `local up` is ready after 22 s on 2 idle cores.
    delay = round(random.Random(f"{SEED}-local-up").uniform(2.0, 15.0), 1)
    argv = [sys.executable, "-m", "llmd_trace_e2e.commands.cli", "local", "up", "--artifacts", str(artifacts)]
    with guard:
        up = subprocess.Popen(argv, cwd=ROOT, env=guard.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            time.sleep(delay)
            assert up.poll() is None, f"`local up` ended before Ctrl-C:\n{up.stdout.read()}"
            guard.sample()
            up.send_signal(signal.SIGINT)
            output, _ = up.communicate(timeout=120)
        finally:
            if up.poll() is None:
                up.kill()
                up.wait()
            # Whatever happened, leave no stack running for the next test.
            subprocess.run([sys.executable, "-m", "llmd_trace_e2e.commands.cli", "local", "down", "--artifacts",
                            str(artifacts)], cwd=ROOT, env=guard.env(), capture_output=True, timeout=180)
    story = f"SIGINT {delay}s into `local up` (seed {SEED}); it exited {up.returncode}:\n{output[-3000:]}"
    assert up.returncode == 130 and "interrupted" in output, story
    assert not state_path(artifacts).exists(), f"an interrupted `local up` left its state file: {story}"
    print(story)
    print(f"processes seen:\n{guard.inventory()}")
    assert any("llmd_trace_e2e.platforms.local.stack" in info.cmdline for info in guard.seen.values()), \
        f"the stack's server was never seen: {story}"
    guard.assert_clean()


# --- without processes: stale and malformed state files ---------------------------------------------

def fake_state(tmp_path: Path, private: Path) -> StackState:
    """A state file whose server is gone (a pid that exited), as a crash or a reboot leaves it."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = ProcessRef("server", gone.pid, 1.0)
    return StackState(server=dead, run_dir=str(tmp_path), profile="local", collector_config=None,
                      started_at="2026-01-01T00:00:00+00:00", ready_after_s=1.0, gateway_url="http://127.0.0.1:1",
                      trace_backend="jaeger", trace_query_url="http://127.0.0.1:1", collector_otlp_grpc="http://127.0.0.1:1",
                      collector_otlp_http="http://127.0.0.1:1", collector_telemetry_url="http://127.0.0.1:1/metrics",
                      tap_file=str(tmp_path / "tap.jsonl"), control_url="http://127.0.0.1:1", baseline={}, values={},
                      private_dirs=[str(private)], components=[ProcessRef("gateway", gone.pid, 1.0, 1)])


def test_a_stale_state_file_is_one_line_naming_local_down(tmp_path):
    artifacts = tmp_path / "artifacts"
    private = tmp_path / "llmd-trace-e2e-kube-left"
    private.mkdir()
    path = state_path(artifacts)
    fake_state(tmp_path, private).write(path)
    env = dict(os.environ)
    for command in ("status", "up"):
        run = local(command, "--artifacts", str(artifacts), env=env, timeout_s=60)
        lines = run.stderr.strip().splitlines()
        assert run.returncode == 2 and len(lines) == 1 and "llmd-trace-e2e local down" in lines[0], \
            f"`local {command}` on a stale state file: {said(run)}"
    with pytest.raises(ConfigError, match="llmd-trace-e2e local down"):
        AttachedPlatform.check_options(RunOptions(artifacts=artifacts, attach=True))
    assert check_components(read_state(path))[0][1].startswith("not running")
    down = local("down", "--artifacts", str(artifacts), env=env, timeout_s=60)
    assert down.returncode == 0 and f"removed {private}" in down.stdout, f"`local down` on a stale file: {said(down)}"
    assert not path.exists() and not private.exists()


def test_attach_without_a_stack_or_with_values_names_the_fix(tmp_path):
    with pytest.raises(ConfigError, match="llmd-trace-e2e local up"):
        AttachedPlatform.check_options(RunOptions(artifacts=tmp_path, attach=True))
    with pytest.raises(ConfigError, match="--values belong to `llmd-trace-e2e local up`"):
        AttachedPlatform.check_options(RunOptions(artifacts=tmp_path, attach=True, values_files=(Path("v.yaml"),)))


def test_a_malformed_state_file_names_local_down(tmp_path):
    path = state_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"version": 1, "server": {"name": "server"}}))
    with pytest.raises(ConfigError, match="llmd-trace-e2e local down"):
        read_state(path)
