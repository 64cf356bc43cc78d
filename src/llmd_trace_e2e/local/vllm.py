"""vLLM on CPU serving the tiny generated model, launched the way the modelservice chart's
`vllmServe` command would be, with the chart's tracing args and env.

With tracing on it runs under `opentelemetry-instrument`, so its FastAPI server makes HTTP
spans (GET /metrics among them): the component the guide's filter exists for. vLLM's own
`llm_request` spans still arrive and still honour the incoming traceparent.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import requests

from ..charts import Launch
from ..procs import ManagedProcess, ProcessSpec, Supervisor
from ..waits import Pending
from .assets import model_dir, vllm_python

SERVED_MODEL = "tiny-llama"


@dataclass
class VllmServer:
    proc: ManagedProcess
    port: int
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


def vllm_spec(launch: Launch, port: int, run_dir: Path, name: str = "vllm-decode") -> ProcessSpec:
    python = vllm_python()
    scratch = run_dir / f"{name}-tmp"  # vLLM's IPC sockets live here: keep the path short
    scratch.mkdir(parents=True, exist_ok=True)
    argv = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", model_dir(),
            "--served-model-name", SERVED_MODEL, "--host", "127.0.0.1", "--port", port,
            "--max-model-len", "512", "--enforce-eager", *launch.args]
    if launch.tracing:
        argv = [python.parent / "opentelemetry-instrument", *argv]
    env = {"HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1", "TMPDIR": str(scratch),
           "VLLM_CACHE_ROOT": str(scratch / "cache"), "TORCHINDUCTOR_CACHE_DIR": str(scratch / "inductor"),
           **launch.env}
    return ProcessSpec(name, argv, env)


def start_vllm(supervisor: Supervisor, launch: Launch, port: int, run_dir: Path) -> VllmServer:
    return VllmServer(supervisor.start(vllm_spec(launch, port, run_dir)), port, launch)
