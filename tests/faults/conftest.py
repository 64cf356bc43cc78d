"""Fault tests: each injects a fault into real processes and asserts how the harness reacts: a
failing verdict that names the cause, within its timeout, and nothing left behind.

Most run on a cheap stack of their own, so `make test` starts vLLM no more often than before:
- `pipeline_stack`: the real collector (the repo's config) and Jaeger;
- `routing_stack`: that, plus the local control plane, the real EPP, the real Envoy as the
  gateway and a FAKE model server (tests/faults/fake_model_server.py), for faults of the
  request path that are not vLLM's.
A fault of vLLM itself uses the session's local platform (`platform`), without breaking it:
those tests run after every other test under tests/ (see pytest_collection_modifyitems).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind

from llmd_trace_e2e.deployment.collector_adapt import TraceDestination
from llmd_trace_e2e.deployment.collector_config import repo_collector_config
from llmd_trace_e2e.runtime.diagnose import Diagnosis
from llmd_trace_e2e.platforms.local.diagnosis import pipeline_diagnosis
from llmd_trace_e2e.platforms.local.pipeline import LocalCollector, LocalJaeger, PipelineTimeouts, TracePipeline
from llmd_trace_e2e.runtime.ports import free_ports, is_listening
from llmd_trace_e2e.runtime.procs import ManagedProcess, ProcessSpec, Supervisor
from llmd_trace_e2e.traces.model import Span
from llmd_trace_e2e.traces.query import TraceQuery
from llmd_trace_e2e.runtime.waits import Pending

from .leaks import LeakGuard

FAULT_SERVICE = "llmd-trace-e2e-fault"
FAKE_MODEL_SERVER = Path(__file__).with_name("fake_model_server.py")
READY_S = 60.0
CONTROL_PLANE_READY_S = 90.0
ROUTE_TIMEOUT_S = 5.0  # the FAKE model server answers at once
EPP_MESSAGE_TIMEOUT_S = 3.0  # the routing stack's gateway gives the EPP this long for each answer


def _uses_platform(item) -> bool:
    return "platform" in getattr(item, "fixturenames", ())


@pytest.hookimpl(trylast=True)  # after e2e/conftest.py's own ordering (variants last)
def pytest_collection_modifyitems(config, items):
    """Tests under tests/ that need the session's local platform run after every other test
    under tests/ and before e2e/, which shares that platform; the leak tests, which run
    platform set-ups of their own, never overlap with it. A test marked `run_last` (an
    attribute of the function) runs after everything, e2e/ included."""
    root = Path(str(config.rootpath))

    def rank(item) -> tuple[int, bool]:
        variant = item.get_closest_marker("variant") is not None
        if getattr(getattr(item, "function", None), "run_last", False):
            return 3, variant
        path = Path(str(item.path))
        top = path.relative_to(root).parts[0] if path.is_relative_to(root) else ""
        if top != "tests":
            return 2, variant
        return (1 if _uses_platform(item) else 0), variant

    items.sort(key=rank)


@pytest.fixture(autouse=True)
def no_leaks(request, tmp_path_factory):
    """Every fault test ends with nothing left: no process, temporary folder or port."""
    tmp_path_factory.getbasetemp()  # pytest's own temp folder, settled before the guard moves TMPDIR
    if _uses_platform(request.node):
        request.getfixturevalue("platform")  # session-wide: up before the guard's first picture
    guard = LeakGuard()
    with guard:
        yield guard
    guard.assert_clean()


# --- spans sent by the test ------------------------------------------------------------------


def send_spans(otlp_grpc_endpoint: str, *names: str, service: str = FAULT_SERVICE,
               timeout_s: float = 2.0) -> dict[str, str]:
    """One span per name, each its own trace, exported in one batch; name -> trace id.
    Into a dead collector the export fails after `timeout_s` (the SDK logs it and drops them)."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    exporter = OTLPSpanExporter(endpoint=otlp_grpc_endpoint, insecure=True, timeout=timeout_s)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=60_000))
    tracer = provider.get_tracer("llmd_trace_e2e.faults")
    sent = {}
    try:
        for name in names:
            with tracer.start_as_current_span(name, kind=SpanKind.SERVER) as span:
                sent[name] = f"{span.get_span_context().trace_id:032x}"
        provider.force_flush(int((timeout_s + 5) * 1000))
    finally:
        provider.shutdown()
    return sent


# --- the cheap stacks ------------------------------------------------------------------------


@dataclass
class PipelineStack:
    supervisor: Supervisor
    folder: Path
    jaeger: LocalJaeger
    collector: LocalCollector
    client: TraceQuery  # one client for the whole test: it remembers what it has read
    since: datetime = field(default_factory=lambda: datetime.now(timezone.utc) - timedelta(minutes=1))

    @property
    def diagnosis(self) -> Diagnosis:
        """What this stack knows about a failure: its processes, the collector's export, Jaeger's ledger."""
        return pipeline_diagnosis(self.supervisor, self.collector, self.client)

    def send(self, *names: str) -> dict[str, str]:
        return send_spans(self.collector.otlp_grpc_endpoint, *names)

    def fetch(self) -> list[Span]:
        return self.client.find_spans(FAULT_SERVICE, self.since)


def start_pipeline(supervisor: Supervisor, folder: Path, exporter_to: str | None = None) -> PipelineStack:
    """Jaeger and the collector (the repo's config); `exporter_to` points the collector's
    exporter somewhere other than this Jaeger (a fault)."""
    to = TraceDestination(exporter_to, f"http://{exporter_to}", "the fault's address") if exporter_to else None
    pipeline = TracePipeline.start(supervisor, folder, repo_collector_config(), PipelineTimeouts(READY_S, READY_S),
                                   exporter_to=to)
    return PipelineStack(supervisor, folder, pipeline.backend, pipeline.collector, pipeline.backend.client())


@pytest.fixture
def pipeline_stack(tmp_path):
    folder = tmp_path / "run"
    with Supervisor(folder) as supervisor:
        yield start_pipeline(supervisor, folder)


@dataclass
class RoutingStack:
    pipeline: PipelineStack
    epp: object  # llmd_trace_e2e.platforms.local.epp.EppServer
    gateway: object  # llmd_trace_e2e.platforms.local.envoy.EnvoyGateway
    model_server: ManagedProcess
    model_address: str
    epp_service: str

    @property
    def diagnosis(self) -> Diagnosis:
        return self.pipeline.diagnosis  # one supervisor: the EPP, Envoy and the model server are its processes too


@pytest.fixture
def routing_stack(tmp_path):
    """Collector + Jaeger, control plane, the real EPP (tracing on, as the charts render it for
    the guide's values), the real Envoy, and the FAKE model server behind them."""
    from llmd_trace_e2e.deployment.charts import epp_launch, localize
    from llmd_trace_e2e.deployment.gateway_values import GatewayTracing
    from llmd_trace_e2e.platforms.local.envoy import GatewaySettings, start_envoy
    from llmd_trace_e2e.platforms.local.epp import prepare_pool, start_epp
    from llmd_trace_e2e.platforms.local.kube import LocalControlPlane
    from llmd_trace_e2e.platforms.local.launches import POD_LABELS, baseline_values, with_batch_delay
    from llmd_trace_e2e.deployment.profiles import load_profile

    folder = tmp_path / "run"
    profile = load_profile("local")
    model_port, gateway_port, admin_port, *epp_ports = free_ports(6)
    control_plane = None
    with Supervisor(folder) as supervisor:
        try:
            pipeline = start_pipeline(supervisor, folder)
            model = supervisor.start(ProcessSpec("fake-model-server", [sys.executable, FAKE_MODEL_SERVER,
                                                                       "--port", model_port]))
            control_plane = LocalControlPlane(supervisor)
            control_plane.start()
            control_plane.wait_ready(CONTROL_PLANE_READY_S)
            prepare_pool(control_plane, POD_LABELS, model_port, epp_ports[0])
            control_plane.put_endpoint_pod("fake-model-server", POD_LABELS, ports=[model_port])
            launch = with_batch_delay(localize(epp_launch(baseline_values(profile), profile),
                                               pipeline.collector.otlp_grpc_endpoint))
            epp = start_epp(supervisor, launch, epp_ports, control_plane.kubeconfig)
            gateway = start_envoy(supervisor, GatewaySettings(
                gateway_port, admin_port, epp.grpc_address, pipeline.collector.otlp_grpc_endpoint, GatewayTracing(),
                route_timeout_s=ROUTE_TIMEOUT_S, message_timeout_s=EPP_MESSAGE_TIMEOUT_S), folder)
            model.wait_ready("port listens", lambda: is_listening(model_port) or Pending("port closed"), READY_S)
            epp.wait_ready(READY_S)
            gateway.wait_ready(READY_S)
            yield RoutingStack(pipeline, epp, gateway, model, f"127.0.0.1:{model_port}", profile.services["epp"])
        finally:
            supervisor.stop_all()
            if control_plane is not None:
                control_plane.discard()
