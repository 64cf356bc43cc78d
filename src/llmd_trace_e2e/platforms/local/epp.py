"""The GAIE EPP, in the pool mode its inferencepool chart deploys, against the local control
plane: an InferencePool selects the vLLM Pod object, whose IP is 127.0.0.1.

(Its standalone mode, --endpoint-selector, cannot start in v1.5.0: the flag check refuses
--pool-name with it, and without --pool-name the endpoint pool fails "name must not be empty".)
"""
from __future__ import annotations

import json
import subprocess
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Mapping

import grpc

from llmd_trace_e2e.deployment.charts import Launch
from llmd_trace_e2e.runtime.errors import ToolMissing
from llmd_trace_e2e.runtime.paths import repo_root, tool
from llmd_trace_e2e.runtime.procs import ManagedProcess, ProcessSpec, Supervisor
from llmd_trace_e2e.runtime.waits import Pending
from llmd_trace_e2e.platforms.local.kube import LocalControlPlane

POOL = "local-pool"
NAMESPACE = "default"
# The chart's 50 ms model-server metrics refresh is 20 scrapes a second: too much for vLLM on
# two cores next to everything else. One second still refreshes well within a test.
REFRESH_METRICS = "1s"
_SERVING = b"\x08\x01"  # grpc.health.v1.HealthCheckResponse{status: SERVING}


@lru_cache(maxsize=1)
def crd_dir() -> Path:
    """The GAIE release's CRDs, from the module the EPP was built from (the Go module cache)."""
    spec = tomllib.loads((repo_root() / "versions.toml").read_text())["go_tools"]["epp"]
    ref = f"{spec['module']}@{spec['version']}"
    proc = subprocess.run(["go", "mod", "download", "-json", ref], capture_output=True, text=True)
    if proc.returncode != 0:
        raise ToolMissing(f"the CRDs of {ref} are not in the Go module cache: run `make tools` ({proc.stdout.strip()[-200:]})")
    return Path(json.loads(proc.stdout)["Dir"]) / "config" / "crd" / "bases"


@dataclass
class EppServer:
    proc: ManagedProcess
    launch: Launch
    grpc_port: int
    health_port: int
    metrics_port: int

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def _serving(self) -> bool | Pending:
        with grpc.insecure_channel(f"127.0.0.1:{self.health_port}") as channel:
            try:
                answer = channel.unary_unary("/grpc.health.v1.Health/Check")(b"", timeout=1)
            except grpc.RpcError as err:
                return Pending(f"health check: {err.code().name}")
        return answer == _SERVING or Pending(f"health check answered {answer!r}")

    def wait_ready(self, timeout_s: float) -> None:
        self.proc.wait_ready("gRPC health SERVING (pool synced)", self._serving, timeout_s)


def prepare_pool(control_plane: LocalControlPlane, labels: Mapping[str, str], model_port: int | list[int],
                 epp_port: int) -> None:
    """`model_port`: one port, or every model server's (each Pod names its own, see put_endpoint_pod)."""
    ports = model_port if isinstance(model_port, list) else [model_port]
    control_plane.apply_crds(crd_dir() / "inference.networking.k8s.io_inferencepools.yaml")
    control_plane.put_inference_pool(POOL, labels, ports, epp_service="epp-local", epp_port=epp_port,
                                     namespace=NAMESPACE)


def epp_argv(binary: Path, launch: Launch, ports: list[int]) -> tuple[list, list[str]]:
    """(argv, notes): the flags the harness sets (each noted, with why) before the render's own."""
    grpc_port, health_port, metrics_port = ports
    harness = [
        (f"--pool-name={POOL}", "the local control plane's InferencePool (the render names the release's)"),
        (f"--pool-namespace={NAMESPACE}", "the local control plane's namespace"),
        (f"--grpc-port={grpc_port}", "a free port on 127.0.0.1 (the chart's container port is 9002)"),
        (f"--grpc-health-port={health_port}", "a free port on 127.0.0.1 (the chart's is 9003)"),
        (f"--metrics-port={metrics_port}", "a free port on 127.0.0.1 (the chart's is 9090)"),
        ("--secure-serving=false", "Envoy speaks plain HTTP/2 to it on 127.0.0.1"),
        ("--metrics-endpoint-auth=false", "the harness scrapes /metrics without a token"),
        (f"--refresh-metrics-interval={REFRESH_METRICS}", "the chart's 50 ms is 20 scrapes a second on 2 cores"),
    ]
    notes = [f"harness override: {flag}: {why}" for flag, why in harness]
    notes.append("render flags left out: --pool-name, --pool-namespace, --pool-group, --config-file (the "
                 "chart's plugins ConfigMap: the binary runs its built-in default plugins), --grpc-health-port")
    return [binary, *(flag for flag, _ in harness), *launch.args], notes


def start_epp(supervisor: Supervisor, launch: Launch, ports: list[int], kubeconfig: Path,
              binary: Path | None = None) -> EppServer:
    """`binary`: the EPP to run (a --component one); GAIE's from `make tools` by default."""
    argv, notes = epp_argv(binary or tool("epp"), launch, ports)
    env = {"KUBECONFIG": str(kubeconfig), **launch.env}
    grpc_port, health_port, metrics_port = ports
    return EppServer(supervisor.start(ProcessSpec("epp", argv, env, notes=notes)), launch, grpc_port, health_port,
                     metrics_port)
