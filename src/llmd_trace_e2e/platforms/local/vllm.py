"""vLLM on CPU serving the tiny generated model, launched the way the modelservice chart's
`vllmServe` command would be, with the chart's tracing args and env.

With tracing on it runs under `opentelemetry-instrument`, so its FastAPI server makes HTTP
spans (GET /metrics among them): the component the guide's filter exists for. vLLM's own
`llm_request` spans still arrive and still honour the incoming traceparent.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import requests

from llmd_trace_e2e.deployment.charts import Launch
from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.runtime.procs import ManagedProcess, ProcessSpec, Supervisor
from llmd_trace_e2e.runtime.waits import Pending
from llmd_trace_e2e.platforms.local.assets import model_dir, vllm_cache_seed, vllm_python

SERVED_MODEL = "tiny-llama"
UNIX_SOCKET_PATH_MAX = 107  # bytes in sockaddr_un.sun_path, less the terminating NUL
VLLM_IPC_TAIL = len("/vllm-decode-tmp/") + 36  # vllm_spec's scratch folder, then vLLM's uuid4 socket name


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


def vllm_spec(launch: Launch, port: int, scratch_root: Path, name: str = "vllm-decode") -> ProcessSpec:
    """`scratch_root`: a folder from vllm_scratch_dir()."""
    python = vllm_python()
    scratch = scratch_root / f"{name}-tmp"  # vLLM's IPC sockets live here: keep the path short
    scratch.mkdir(parents=True, exist_ok=True)
    # The run's own cache root, seeded with what set-up learned (vLLM re-checks it against its source).
    if (vllm_cache_seed() / ".complete").exists():
        shutil.copytree(vllm_cache_seed() / "modelinfos", scratch / "cache" / "modelinfos", dirs_exist_ok=True)
    argv = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", model_dir(),
            "--served-model-name", SERVED_MODEL, "--host", "127.0.0.1", "--port", port,
            "--max-model-len", "512", "--enforce-eager", *launch.args]
    if launch.tracing:
        argv = [python.parent / "opentelemetry-instrument", *argv]
    env = {"HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1", "TMPDIR": str(scratch),
           "VLLM_CACHE_ROOT": str(scratch / "cache"), "TORCHINDUCTOR_CACHE_DIR": str(scratch / "inductor"),
           **launch.env}
    # Stopped while it starts (Ctrl-C during set-up), vLLM's API server waits for its engine core
    # and ignores SIGTERM for the whole 10 s grace period; it has served nothing, so 2 s will do.
    return ProcessSpec(name, argv, env, unready_grace_s=2.0)


def start_vllm(supervisor: Supervisor, launch: Launch, port: int, scratch_root: Path,
               name: str = "vllm-decode") -> VllmServer:
    return VllmServer(supervisor.start(vllm_spec(launch, port, scratch_root, name)), port, launch)


def vllm_scratch_dir() -> Path:
    """A private folder for vLLM's scratch (its TMPDIR, where its engine's IPC sockets live, and
    its compile caches), removed at stop. Not under the artifacts folder: a unix socket path
    has at most 107 bytes, which a deep artifacts path (a CI checkout, a soak's run folder)
    exceeds, and vLLM then fails at start with a ZMQError."""
    path = Path(tempfile.mkdtemp(prefix="llmd-vllm-"))
    if len(str(path)) + VLLM_IPC_TAIL > UNIX_SOCKET_PATH_MAX:
        shutil.rmtree(path, ignore_errors=True)
        room = UNIX_SOCKET_PATH_MAX - VLLM_IPC_TAIL - len(path.name) - 1
        raise ConfigError(f"the temporary folder {path.parent} has too long a path for vLLM's IPC sockets "
                          f"(at most {room} characters): set TMPDIR to a shorter folder, such as /tmp")
    return path
