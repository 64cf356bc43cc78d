"""Phase `startup`: where vLLM's start goes. vLLM alone, launched as the local platform launches
it (the chart's tracing args and env, under opentelemetry-instrument), each line of its output
stamped as it arrives. Run as the platform starts it now (bytecode compiled and vLLM's model
inspection cached at set-up, local/assets.py) and as every start was before: no bytecode (uv
installs none, and where PYTHONDONTWRITEBYTECODE is set Python never writes any, so each of
vLLM's three processes compiled torch's and vLLM's sources again) and an empty cache root (so
vLLM inspected the model's class in a fourth process)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import requests

from llmd_trace_e2e.commands.bench.results import VllmStartRun

# Each step, named by what it does, and the line of vLLM 0.32's own log that ends it.
MARKS = (("API server: imports (opentelemetry-instrument's included)", "version 0."),
         ("API server: engine config resolved", "Resolved architecture"),
         ("engine core: spawned, imports", "Initializing a V1 LLM engine"),
         ("worker: spawned, imports", "Starting to load model"),
         ("model load, KV cache, (no) warm-up", "init engine"),
         ("API server: routes, tokenizer, listening", "Starting vLLM server"))
READY_S = 400.0
# No bytecode: an empty pycache tree to read from (PYTHONPYCACHEPREFIX), and nothing written to it.
NO_BYTECODE_ENV = {"PYTHONDONTWRITEBYTECODE": "1"}


def _launch_spec(folder: Path, collector_endpoint: str, name: str):
    from llmd_trace_e2e.deployment.charts import localize, vllm_launch
    from llmd_trace_e2e.platforms.local.platform import LocalPlatform
    from llmd_trace_e2e.platforms.local.vllm import vllm_spec
    from llmd_trace_e2e.platforms.choose import RunOptions
    from llmd_trace_e2e.runtime.ports import free_ports

    profile, values, _ = LocalPlatform.resolve(RunOptions(artifacts=folder))
    [port] = free_ports(1)
    launch = localize(vllm_launch(values, profile), collector_endpoint)
    return vllm_spec(launch, port, folder, name), port


def vllm_start(folder: Path, label: str, as_before: bool = False) -> VllmStartRun:
    """vLLM alone beside a real collector (the repo's config; its Jaeger need not run: vLLM's
    exports succeed, the collector's own fail, which vLLM never sees)."""
    from llmd_trace_e2e.deployment.collector_config import repo_collector_config
    from llmd_trace_e2e.platforms.local.pipeline import LocalCollector
    from llmd_trace_e2e.runtime.procs import Supervisor

    with Supervisor(folder / f"collector-{label}") as supervisor:
        collector = LocalCollector(supervisor, folder / f"collector-{label}", repo_collector_config(), "127.0.0.1:1")
        collector.start().wait_ready(60.0)
        return _vllm_start(folder, label, as_before, collector.otlp_grpc_endpoint)


def _vllm_start(folder: Path, label: str, as_before: bool, collector_endpoint: str) -> VllmStartRun:
    from llmd_trace_e2e.runtime.procs import component_env

    scratch = Path(tempfile.mkdtemp(prefix="llmd-vllm-"))  # short: vLLM's IPC sockets live under it
    spec, port = _launch_spec(scratch, collector_endpoint, "vllm-start")
    env = component_env(spec.env)
    if as_before:
        env.update(NO_BYTECODE_ENV, PYTHONPYCACHEPREFIX=str(scratch / "no-pycache"))
        shutil.rmtree(Path(spec.env["VLLM_CACHE_ROOT"]) / "modelinfos", ignore_errors=True)
    lines: list[tuple[float, str]] = []
    t0 = time.monotonic()
    proc = subprocess.Popen([str(a) for a in spec.argv], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)

    def read():
        for line in proc.stdout:
            lines.append((time.monotonic() - t0, line.rstrip()))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    ready = None
    try:
        while proc.poll() is None and time.monotonic() - t0 < READY_S:
            try:
                if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    ready = time.monotonic() - t0
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
    finally:  # the whole group: the engine core and the worker too
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
        reader.join(5)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"vllm-start-{label}.log").write_text("\n".join(f"{t:8.2f} {line}" for t, line in lines) + "\n")
        shutil.rmtree(scratch, ignore_errors=True)
    return VllmStartRun(label, as_before, None if ready is None else round(ready, 2), step_marks(lines))


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def step_marks(lines: list[tuple[float, str]]) -> dict[str, float]:
    """Seconds from the start to the line that ends each step in MARKS."""
    marks = {}
    for step, pattern in MARKS:
        hit = next((t for t, line in lines if pattern in line), None)
        if hit is not None:
            marks[step] = round(hit, 2)
    return marks


def steps(run: VllmStartRun) -> list[tuple[str, float]]:
    """How long each step took: from the previous mark (or the start) to its own; then /health."""
    out, last = [], 0.0
    for step, _ in MARKS:
        if step in run.marks:
            out.append((step, round(run.marks[step] - last, 2)))
            last = run.marks[step]
    if run.ready_s is not None:
        out.append(("GET /health answers 200", round(run.ready_s - last, 2)))
    return out
