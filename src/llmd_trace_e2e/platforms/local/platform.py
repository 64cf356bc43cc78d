"""The local platform: the llm-d request path as real processes on 127.0.0.1: the order in which
its programs start, and what a variant restarts.

    client -> Envoy -> (ext_proc) EPP -> vLLM          spans -> collector -> Jaeger
                          |                                (+ unfiltered tap)
                  kube-apiserver + etcd (the EPP's endpoint discovery)

Every process is the real program. Each gets the flags and env the charts would render for
the run's Helm values; Envoy traces when `gateway.tracing.enabled` says so.
`apply_variant()` restarts only the components whose launch changes under other values.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping

from llmd_trace_e2e.deployment.charts import Launch, epp_launch, localize, proxy_launch, vllm_launch
from llmd_trace_e2e.deployment.collector_config import CollectorConfig, load_collector_config, repo_collector_config
from llmd_trace_e2e.runtime.diagnose import Diagnosis
from llmd_trace_e2e.runtime.errors import ConfigError, StartupError
from llmd_trace_e2e.deployment.gateway_values import GatewayTracing
from llmd_trace_e2e.runtime.paths import tool
from llmd_trace_e2e.platforms.local.pipeline import (
    LOCAL_BACKENDS, LocalCollector, LocalJaeger, PipelineTimeouts, TracePipeline)
from llmd_trace_e2e.platforms.base import SharedPlatformParts
from llmd_trace_e2e.platforms.options import with_overrides
from llmd_trace_e2e.runtime.ports import free_ports
from llmd_trace_e2e.runtime.procs import Supervisor
from llmd_trace_e2e.deployment.components import parse_components
from llmd_trace_e2e.deployment.profiles import Profile, load_profile
from llmd_trace_e2e.deployment.traceability import check_traceable
from llmd_trace_e2e.traces.backends import DEFAULT_BACKEND
from llmd_trace_e2e.traces.query import TraceQuery
from llmd_trace_e2e.traces.model import Span
from llmd_trace_e2e.deployment.values import deep_merge, merge_values_files
from llmd_trace_e2e.platforms.local.assets import model_dir, vllm_python
from llmd_trace_e2e.platforms.local.diagnosis import pipeline_diagnosis
from llmd_trace_e2e.platforms.local.epp import EppServer, prepare_pool, start_epp
from llmd_trace_e2e.platforms.local.envoy import EnvoyGateway, GatewaySettings, start_envoy
from llmd_trace_e2e.platforms.local.kube import LocalControlPlane
from llmd_trace_e2e.platforms.local.launches import (
    POD_LABELS, baseline_values, batch_delay_s, decode_replicas, for_replica, render_argv, replica_pod, with_batch_delay)
from llmd_trace_e2e.platforms.local.components import (
    LocalBinaries, RunBinary, choose_profile, local_profiles, probe_components, refuse_unfit, resolve_binaries)
from llmd_trace_e2e.platforms.local.proxy import RoutingProxy, start_sidecar
from llmd_trace_e2e.platforms.local.scraper import MetricsScraper
from llmd_trace_e2e.platforms.local.vllm import SERVED_MODEL, VllmServer, start_vllm, vllm_scratch_dir

TOOLS = (*LOCAL_BACKENDS, "otelcol", "etcd", "kube-apiserver", "envoy")  # the EPP's binary: components.py
PORT_ATTEMPTS = 3  # a port picked free can be taken by another process before ours binds it

@dataclass(frozen=True)
class Timeouts:
    """Seconds, on a monotonic clock. Override one with --wait-timeout NAME=SECONDS."""

    control_plane_ready_s: float = 90.0
    pipeline_ready_s: float = 60.0
    epp_ready_s: float = 60.0
    gateway_ready_s: float = 30.0
    proxy_ready_s: float = 30.0
    vllm_ready_s: float = 300.0  # 50-90 s on 2 cores; a loaded CI machine needs headroom
    # Below traffic.send's 60 s: when a hop stalls, the gateway's 504 names it (EPP or model
    # server) before the client gives up knowing only that the gateway did not answer.
    gateway_request_s: float = 50.0
    # Each answer of the EPP (Envoy's ext_proc message timeout; its default, 200 ms, is far too
    # short for a scheduling decision on a loaded machine); an EPP silent this long fails the request.
    epp_message_s: float = 30.0


class LocalPlatform(SharedPlatformParts):
    name = "local"
    model = SERVED_MODEL

    def __init__(self, profile: Profile, values: Mapping[str, Any], run_dir: Path, supervisor: Supervisor,
                 timeouts: Timeouts = Timeouts(), binaries: LocalBinaries | None = None,
                 trace_backend: str = DEFAULT_BACKEND):
        self.profile, self.baseline, self.values = profile, dict(values), dict(values)
        self.binaries = binaries or LocalBinaries(RunBinary("epp", tool("epp"), None, "make tools"))
        self.timeouts, self.trace_backend_name = timeouts, trace_backend
        self.artifacts, self.supervisor = run_dir, supervisor
        self.started_at = datetime.now(timezone.utc)
        [self.vllm_port] = free_ports(1)
        self.gateway_port: int | None = None  # these are picked right before their processes start
        self.gateway_admin_port: int | None = None
        self.epp_ports: list[int] = []  # grpc, health, metrics
        self.pipeline: TracePipeline | None = None
        self.traces: TraceQuery | None = None
        self.control_plane: LocalControlPlane | None = None
        self.vllm: VllmServer | None = None
        self.replicas = decode_replicas(values)
        self.extra_vllm_ports = free_ports(self.replicas - 1) if self.replicas > 1 else []
        self.extra_vllms: list[VllmServer] = []  # decode.replicas beyond the first
        # One routing proxy in front of each vLLM, where the run has a pd-sidecar binary.
        self.proxy_ports = free_ports(self.replicas) if self.binaries.proxy else []
        self.proxies: list[RoutingProxy] = []
        self.epp: EppServer | None = None
        self.gateway: EnvoyGateway | None = None
        self.scraper: MetricsScraper | None = None
        self.vllm_scratch: Path | None = None  # vLLM's TMPDIR parent: see vllm_scratch_dir()
        self.timings: dict[str, float] = {}

    # --- the Platform protocol -----------------------------------------------------------------

    @property
    def collector(self) -> LocalCollector | None:
        return self.pipeline and self.pipeline.collector

    @property
    def trace_backend(self) -> LocalJaeger | None:
        return self.pipeline and self.pipeline.backend

    @property
    def gateway_url(self) -> str:
        return self.gateway.url

    @property
    def collector_otlp_grpc(self) -> str:
        return self.collector.otlp_grpc_endpoint

    def unfiltered_spans(self) -> list[Span]:
        return self.collector.tap_spans()

    def filtered_span_count(self) -> float:
        return self.collector.filtered_spans()

    def apply_variant(self, overlay: Mapping[str, Any], on_purpose: str = "") -> None:
        values = deep_merge(self.baseline, overlay)
        check_traceable(values, self.profile, on_purpose)
        self.apply(values)

    def reset(self) -> None:
        """Back to the run's own values (restarting only what a variant changed)."""
        self.apply(self.baseline)

    @property
    def export_batch_delay_s(self) -> float:
        return batch_delay_s(self.vllm.launch, self.epp.launch, *(p.launch for p in self.proxies))

    # --- lifecycle --------------------------------------------------------------------------------

    def launches(self, values: Mapping[str, Any]) -> tuple[Launch, Launch]:
        endpoint = self.collector.otlp_grpc_endpoint
        return (with_batch_delay(localize(vllm_launch(values, self.profile), endpoint)),
                with_batch_delay(localize(epp_launch(values, self.profile), endpoint)))

    def proxy_launch(self, values: Mapping[str, Any]) -> Launch | None:
        if self.binaries.proxy is None:
            return None
        return with_batch_delay(localize(proxy_launch(values, self.profile), self.collector.otlp_grpc_endpoint))

    def apply(self, values: Mapping[str, Any]) -> None:
        vllm, epp = self.launches(values)
        proxy = self.proxy_launch(values)
        if proxy is not None and proxy != self.proxies[0].launch:
            for old in self.proxies:
                self.supervisor.stop(old.proc)
            self._start_proxies(proxy)
        vllm_changed = vllm != self.vllm.launch
        if vllm_changed:  # the slowest by far: started first, awaited last
            self.supervisor.stop(self.vllm.proc)
            self.vllm = start_vllm(self.supervisor, vllm, self.vllm_port, self.vllm_scratch)
            for extra in self.extra_vllms:
                self.supervisor.stop(extra.proc)
            self._start_extra_vllms(vllm)
        if epp != self.epp.launch:
            self.supervisor.stop(self.epp.proc)
            self.epp = self._start_epp(epp)
            self.epp.wait_ready(self.timeouts.epp_ready_s)
        gateway = self._gateway_settings(values)
        if gateway != self.gateway.settings:
            self.supervisor.stop(self.gateway.proc)
            self.gateway = start_envoy(self.supervisor, gateway, self.artifacts)
            self.gateway.wait_ready(self.timeouts.gateway_ready_s)
        for sidecar in self.proxies:
            sidecar.wait_ready(self.timeouts.proxy_ready_s)
        if vllm_changed:
            for server in (self.vllm, *self.extra_vllms):
                server.wait_ready(self.timeouts.vllm_ready_s)
        self.values = dict(values)

    def _gateway_settings(self, values: Mapping[str, Any]) -> GatewaySettings:
        return GatewaySettings(self.gateway_port, self.gateway_admin_port, self.epp.grpc_address,
                               self.collector.otlp_grpc_endpoint, GatewayTracing.from_values(values),
                               route_timeout_s=self.timeouts.gateway_request_s, message_timeout_s=self.timeouts.epp_message_s)

    def _start_routing(self, epp_launch_: Launch, t0: float) -> None:
        """The EPP and the gateway, on ports picked just before they start. A port picked free
        can still be taken before the process binds it (vLLM alone opens a dozen ephemeral
        listeners meanwhile): then both start again on new ports."""
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self.gateway_port, self.gateway_admin_port, *self.epp_ports = free_ports(5)
            prepare_pool(self.control_plane, POD_LABELS, self.endpoint_ports, self.epp_ports[0])
            self.epp = self._start_epp(epp_launch_)
            self.gateway = start_envoy(self.supervisor, self._gateway_settings(self.values), self.artifacts)
            try:
                self.epp.wait_ready(self.timeouts.epp_ready_s)
                self._timed("epp ready", t0)
                self.gateway.wait_ready(self.timeouts.gateway_ready_s)
                self._timed("gateway ready", t0)
                return
            except StartupError as err:
                if attempt == PORT_ATTEMPTS or not port_taken(err):
                    raise
                self.supervisor.stop(self.gateway.proc)
                self.supervisor.stop(self.epp.proc)

    def _start_extra_vllms(self, launch: Launch) -> None:
        self.extra_vllms = [start_vllm(self.supervisor, for_replica(launch, i), port, self.vllm_scratch,
                                       name=f"vllm-decode-{i}")
                            for i, port in enumerate(self.extra_vllm_ports, start=1)]

    def _start_proxies(self, launch: Launch) -> None:
        """The charts' wiring: each decode Pod's routing proxy forwards to its own vLLM."""
        vllm_ports = [self.vllm_port, *self.extra_vllm_ports]
        self.proxies = [start_sidecar(self.supervisor, self.binaries.proxy.path, for_replica(launch, i), port,
                                      vllm_ports[i], name="routing-proxy" if i == 0 else f"routing-proxy-{i}")
                        for i, port in enumerate(self.proxy_ports)]

    @property
    def endpoint_ports(self) -> list[int]:
        """The pool's endpoints: each routing proxy's port where they run (as the charts wire it), else vLLM's."""
        return list(self.proxy_ports) or [self.vllm_port, *self.extra_vllm_ports]

    @property
    def model_servers(self) -> dict[str, str]:
        """Pod name -> host:port of every endpoint in the pool (the routing proxy in front of each vLLM, if any)."""
        return {replica_pod(i): f"127.0.0.1:{port}" for i, port in enumerate(self.endpoint_ports)}

    def _start_epp(self, launch: Launch) -> EppServer:
        return start_epp(self.supervisor, launch, self.epp_ports, self.control_plane.kubeconfig, self.binaries.epp.path)

    def _timed(self, name: str, start: float) -> None:
        self.timings[name] = round(time.monotonic() - start, 2)

    def diagnosis(self) -> Diagnosis:
        """What a failed assertion consults: dead components, restarts, export errors, lost spans."""
        return pipeline_diagnosis(self.supervisor, self.collector, self.traces)

    @staticmethod
    def preflight() -> None:
        """Every binary and asset the platform runs, before anything starts (ToolMissing names the fix)."""
        for name in TOOLS:
            tool(name)
        vllm_python()
        if not model_dir().exists():
            raise ConfigError(f"the tiny model is missing ({model_dir()}): run `make assets`")

    def start(self, collector_config: CollectorConfig) -> None:
        t0 = time.monotonic()
        self.preflight()
        self.collector_config = collector_config
        self.pipeline = TracePipeline.launch(self.supervisor, self.artifacts, collector_config,
                                             backend=self.trace_backend_name)
        self.traces = self.pipeline.backend.client()
        vllm_launch_, epp_launch_ = self.launches(self.values)
        # vLLM is the slowest by far: start it first, wait for it last.
        self.vllm_scratch = vllm_scratch_dir()
        self.vllm = start_vllm(self.supervisor, vllm_launch_, self.vllm_port, self.vllm_scratch)
        self._start_extra_vllms(vllm_launch_)
        proxy_launch_ = self.proxy_launch(self.values)
        if proxy_launch_ is not None:
            self._start_proxies(proxy_launch_)
        # Assigned before start(): an interrupt during it must still find the private folder to remove.
        self.control_plane = LocalControlPlane(self.supervisor)
        self.control_plane.start()
        self.pipeline.wait_ready(PipelineTimeouts(self.timeouts.pipeline_ready_s, self.timeouts.pipeline_ready_s))
        self._timed("collector+jaeger ready", t0)
        self.control_plane.wait_ready(self.timeouts.control_plane_ready_s)
        for pod, address in self.model_servers.items():
            self.control_plane.put_endpoint_pod(pod, POD_LABELS, ports=[int(address.rpartition(":")[2])])
        self._timed("control plane ready", t0)
        self._start_routing(epp_launch_, t0)
        for sidecar in self.proxies:
            sidecar.wait_ready(self.timeouts.proxy_ready_s)
        self.vllm.wait_ready(self.timeouts.vllm_ready_s)
        for extra in self.extra_vllms:
            extra.wait_ready(self.timeouts.vllm_ready_s)
        self._timed("vllm ready", t0)
        self.scraper = MetricsScraper({
            "vllm": f"{self.vllm.url}/metrics",
            "epp": self.epp.metrics_url,
            "collector": self.collector.telemetry_url,
        }).start()

    @staticmethod
    def resolve(options) -> tuple[Profile, dict[str, Any], CollectorConfig]:
        """The run's profile, merged values and collector config; ConfigError names what to fix."""
        return LocalPlatform.resolve_run(options)[:3]

    @staticmethod
    def resolve_run(options) -> tuple[Profile, dict[str, Any], CollectorConfig, LocalBinaries]:
        """resolve(), and which binary runs each component (the profile says which run and which are absent)."""
        probed = probe_components(parse_components(options.components))
        profile = load_profile(choose_profile(options.profile, probed))
        if profile.platform != "local":
            raise ConfigError(f"profile {profile.name} is for the {profile.platform} platform; "
                              f"the local platform runs --profile {' or '.join(local_profiles())}")
        binaries = resolve_binaries(profile, probed)
        values = merge_values_files(list(options.values_files), profile, base=baseline_values(profile))
        refuse_unfit(profile, binaries, lambda prof, role, own: render_argv(
            prof, role, values if own else baseline_values(prof)))
        GatewayTracing.from_values(values)  # bad gateway.tracing keys fail here, in one line
        config = load_collector_config(options.collector_config) if options.collector_config \
            else repo_collector_config()
        with_overrides(Timeouts(), options.timeouts)  # a bad --wait-timeout fails here, in one line
        return binaries.applied_to(profile), values, config, binaries

    @classmethod
    def check_options(cls, options) -> None:
        """Everything that can be wrong with the run's input, checked in a second, before any
        process starts: profile, values, binaries, collector config, tools and assets, artifacts folder."""
        binaries = cls.resolve_run(options)[3]
        check_writable(Path(options.artifacts))
        cls.preflight()
        binaries.require()

    @classmethod
    @contextmanager
    def running(cls, options) -> Iterator["LocalPlatform"]:
        profile, values, config, binaries = cls.resolve_run(options)
        binaries.require()
        run_dir = writable_run_dir(Path(options.artifacts))
        with Supervisor(run_dir) as supervisor:
            platform = cls(profile, values, run_dir, supervisor, with_overrides(Timeouts(), options.timeouts),
                           binaries, options.trace_backend)
            try:
                platform.start(config)
                yield platform
            finally:
                try:
                    if platform.scraper:
                        platform.scraper.stop()
                    supervisor.stop_all()
                finally:  # even if a second interrupt cut the stop short: no credentials left behind
                    if platform.control_plane:
                        platform.control_plane.discard()
                    if platform.vllm_scratch:
                        shutil.rmtree(platform.vllm_scratch, ignore_errors=True)


def port_taken(err: StartupError) -> bool:
    """Whether a component failed because its port was taken (Go and Python say it alike)."""
    return "address already in use" in f"{err.reason}\n{err.log_tail}".lower()


def check_writable(folder: Path, artifacts: Path | None = None) -> Path:
    """Create `folder` if needed and prove a file can be written there; ConfigError otherwise."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".llmd-trace-e2e-writable"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"cannot write to the artifacts folder {artifacts or folder} ({exc.strerror or exc}): "
                          "pass --artifacts with a folder you can write to") from None
    return folder


def writable_run_dir(artifacts: Path) -> Path:
    """A new run folder under `artifacts`, or a ConfigError naming the fix."""
    return check_writable(artifacts.resolve() / "local" / datetime.now().strftime("%Y%m%d-%H%M%S"), artifacts)
