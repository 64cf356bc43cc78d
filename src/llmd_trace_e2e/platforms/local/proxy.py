"""The routing proxy (llm-d-router's pd-sidecar) in front of each vLLM, wired as the charts wire
it: the pool's endpoints are the sidecar's port, the sidecar forwards to its vLLM's port on
localhost. Decode-only: vLLM on CPU has no KV transfer, so no request names a prefiller and the
sidecar forwards each one straight to its decode server (its `forward_request` span, no children).

Its flags and env are the chart's render (spec/charts.py proxy_launch); the harness changes only
the two ports, and adds `--tracing` where the render turns the exporter's env on but never the
flag (the known gap modelservice-no-proxy-tracing-flag). Each change is written above the command
line in the sidecar's log.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import requests

from llmd_trace_e2e.runtime.procs import ManagedProcess, ProcessSpec, Supervisor
from llmd_trace_e2e.runtime.waits import Pending
from llmd_trace_e2e.deployment.charts import Launch

# (flag, what it names): the render's value is a Pod's port; locally each process has its own.
PORT_FLAGS = (("port", "the sidecar's own port"), ("vllm-port", "its model server's port"),
              ("model-server-port", "its model server's port"))
TRACING_OVERRIDE = ("--tracing added by the harness: the chart renders the exporter's OTEL_* env but never "
                    "--tracing, without which pd-sidecar exports nothing (known gap modelservice-no-proxy-tracing-flag)")


def _flag_name(arg: str) -> str:
    return arg[2:].split("=", 1)[0] if arg.startswith("--") else ""


def sidecar_argv(binary: Path, launch: Launch, port: int, vllm_port: int) -> tuple[list[str], list[str]]:
    """(argv, notes): the render's args with the ports moved to this process's, `--tracing` added
    where the render's env turns tracing on; each change noted."""
    args, notes, seen = [], [], set()
    ports = {"port": port, "vllm-port": vllm_port, "model-server-port": vllm_port}
    for arg in launch.args:
        name = _flag_name(arg)
        if name in ports:
            seen.add(name)
            new = f"--{name}={ports[name]}"
            if new != arg:
                notes.append(f"harness override: {new} (render: {arg}): {dict(PORT_FLAGS)[name]} on 127.0.0.1")
            args.append(new)
        else:
            args.append(arg)
    if "port" not in seen:
        args.append(f"--port={port}")
        notes.append(f"harness addition: --port={port} (the render sets none): the sidecar's own port")
    if not seen & {"vllm-port", "model-server-port"}:
        args.append(f"--model-server-port={vllm_port}")
        notes.append(f"harness addition: --model-server-port={vllm_port} (the render sets none): its model server's port")
    if launch.tracing and not any(_flag_name(a) == "tracing" for a in launch.args):
        args.append("--tracing")
        notes.append(TRACING_OVERRIDE)
    return [str(binary), *args], notes


@dataclass
class RoutingProxy:
    proc: ManagedProcess
    port: int
    vllm_port: int
    launch: Launch

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout_s: float) -> None:
        def healthy():
            try:
                code = requests.get(f"{self.url}/health", timeout=2).status_code
            except requests.RequestException as exc:
                return Pending(f"GET /health: {type(exc).__name__}")
            return code == 200 or Pending(f"GET /health: HTTP {code}")

        self.proc.wait_ready("GET /health answers 200", healthy, timeout_s)


def start_sidecar(supervisor: Supervisor, binary: Path, launch: Launch, port: int, vllm_port: int,
                  name: str = "routing-proxy") -> RoutingProxy:
    argv, notes = sidecar_argv(binary, launch, port, vllm_port)
    return RoutingProxy(supervisor.start(ProcessSpec(name, argv, launch.env, notes=notes)), port, vllm_port, launch)
