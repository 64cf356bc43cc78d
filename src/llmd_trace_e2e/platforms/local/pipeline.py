"""The trace pipeline as local processes: the real OpenTelemetry Collector and Jaeger v2,
on free 127.0.0.1 ports, logs in the run folder.

Either can be restarted on the same ports (`restart()`: fault tests, and a person recovering a
run); the supervisor records it, so a failure explained later says it happened."""
from __future__ import annotations

import functools
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import requests
import yaml

from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.deployment.collector_adapt import (
    SECTIONS, TAP_EXPORTER, LocalTargets, TraceDestination, adapt_for_local, check_components, local_ports_needed)
from llmd_trace_e2e.deployment.collector_config import CollectorConfig
from llmd_trace_e2e.runtime.diagnose import short_log_line
from llmd_trace_e2e.runtime.paths import tool
from llmd_trace_e2e.runtime.ports import free_ports, is_listening
from llmd_trace_e2e.runtime.procs import ManagedProcess, ProcessSpec, Supervisor, log_tail
from llmd_trace_e2e.traces.backends import DEFAULT_BACKEND, query_client
from llmd_trace_e2e.traces.query import TraceQuery
from llmd_trace_e2e.traces.model import Span, spans_from_otlp_json
from llmd_trace_e2e.runtime.waits import Pending, WaitStats


@dataclass(frozen=True)
class PipelineTimeouts:
    jaeger_ready_s: float = 60.0
    collector_ready_s: float = 60.0


def _http_ok(url: str) -> bool | Pending:
    try:
        resp = requests.get(url, timeout=1)
    except requests.RequestException as exc:
        return Pending(f"GET {url}: {type(exc).__name__}")
    return True if resp.status_code == 200 else Pending(f"GET {url}: HTTP {resp.status_code}")


class LocalJaeger:
    name = "jaeger"  # its client's name in traces/backends.py

    def __init__(self, supervisor: Supervisor, run_dir: Path):
        self.supervisor, self.run_dir = supervisor, run_dir
        self.otlp_grpc_port, self.otlp_http_port, self.query_port, self.query_grpc_port, \
            self.health_port, self.telemetry_port = free_ports(6)
        self.proc: ManagedProcess | None = None

    @property
    def query_url(self) -> str:
        return f"http://127.0.0.1:{self.query_port}"

    @property
    def otlp_grpc_address(self) -> str:
        return f"127.0.0.1:{self.otlp_grpc_port}"

    @property
    def otlp_http_url(self) -> str:
        return f"http://127.0.0.1:{self.otlp_http_port}"

    @property
    def destination(self) -> TraceDestination:
        """Where the run's collector exports: this Jaeger."""
        return TraceDestination(self.otlp_grpc_address, self.otlp_http_url, "the run's Jaeger")

    def client(self) -> TraceQuery:
        return query_client(self.query_url, self.name)

    def config(self) -> dict:
        local = lambda port: {"endpoint": f"127.0.0.1:{port}"}  # noqa: E731
        return {
            "service": {
                "extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
                "pipelines": {"traces": {"receivers": ["otlp"], "processors": [],
                                         "exporters": ["jaeger_storage_exporter"]}},
                "telemetry": {"logs": {"level": "info"}, "metrics": {"level": "basic", "readers": [
                    {"pull": {"exporter": {"prometheus": {"host": "127.0.0.1", "port": self.telemetry_port}}}}]}},
            },
            "extensions": {
                "healthcheckv2": {"use_v2": True, "http": local(self.health_port)},
                # enable_tracing defaults to true and exports to localhost:4317, a port that is not ours.
                "jaeger_query": {"storage": {"traces": "memstore"}, "enable_tracing": False, "http": local(self.query_port),
                                 "grpc": local(self.query_grpc_port)},
                "jaeger_storage": {"backends": {"memstore": {"memory": {"max_traces": 100000}}}},
            },
            "receivers": {"otlp": {"protocols": {"grpc": local(self.otlp_grpc_port),
                                                 "http": local(self.otlp_http_port)}}},
            "exporters": {"jaeger_storage_exporter": {"trace_storage": "memstore"}},
        }

    def start(self) -> "LocalJaeger":
        config_file = self.run_dir / "jaeger.yaml"
        config_file.parent.mkdir(parents=True, exist_ok=True)
        config_file.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        self.proc = self.supervisor.start(ProcessSpec("jaeger", [tool("jaeger"), "--config", config_file]))
        return self

    def wait_ready(self, timeout_s: float, stats: WaitStats | None = None) -> None:
        self.proc.wait_ready("query API answers", lambda: _http_ok(f"{self.query_url}/api/v3/services"),
                             timeout_s, stats)
        self.proc.wait_ready("OTLP gRPC port listens",
                             lambda: is_listening(self.otlp_grpc_port) or Pending("port closed"), timeout_s, stats)

    def restart(self, timeout_s: float = PipelineTimeouts.jaeger_ready_s) -> None:
        """Stop (if still running) and start again on the same ports. Its memory storage starts
        empty: every span stored before is gone."""
        self.proc = self.supervisor.restart(self.proc)
        self.wait_ready(timeout_s)


class LocalCollector:
    """The run's collector: the config as written, addresses moved (collector_adapt.py); what
    moved is in `notes`."""

    def __init__(self, supervisor: Supervisor, run_dir: Path, config: CollectorConfig, destination: TraceDestination):
        self.supervisor, self.run_dir = supervisor, run_dir
        check_components(config, *collector_build())
        grpc_port, http_port, telemetry_port, *spare = free_ports(3 + local_ports_needed(config))
        self.tap_file = run_dir / "collector-tap.jsonl"
        self.addresses = LocalTargets(grpc_port, http_port, telemetry_port, destination, run_dir, self.tap_file, spare)
        self.adapted = adapt_for_local(config, self.addresses)
        self.config = self.adapted.config
        self.notes = self.adapted.notes
        self.proc: ManagedProcess | None = None

    def config_text(self) -> str:
        """The config it runs, headed by what running it here changed."""
        return "".join(f"# run as written, except: {note}\n" for note in self.notes) + self.config.to_yaml()

    @property
    def otlp_grpc_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.addresses.otlp_grpc_port}"

    @property
    def otlp_http_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.addresses.otlp_http_port}"

    def start(self) -> "LocalCollector":
        config_file = self.run_dir / "collector.yaml"
        config_file.parent.mkdir(parents=True, exist_ok=True)
        config_file.write_text(self.config_text())
        self.proc = self.supervisor.start(ProcessSpec("collector", [tool("otelcol"), "--config", config_file]))
        return self

    def wait_ready(self, timeout_s: float, stats: WaitStats | None = None) -> None:
        port = self.addresses.otlp_grpc_port
        self.proc.wait_ready("OTLP gRPC port listens", lambda: is_listening(port) or Pending("port closed"),
                             timeout_s, stats)
        self.proc.wait_ready("telemetry answers", lambda: _http_ok(self.telemetry_url), timeout_s, stats)

    def restart(self, timeout_s: float = PipelineTimeouts.collector_ready_s) -> None:
        """Stop (if still running) and start again on the same ports. The tap is appended to
        from then on, so it keeps what the previous process received."""
        exporters = self.config.body.get("exporters") or {}
        if TAP_EXPORTER in exporters and not exporters[TAP_EXPORTER].get("append"):
            exporters[TAP_EXPORTER]["append"] = True
            (self.run_dir / "collector.yaml").write_text(self.config_text())
        self.proc = self.supervisor.restart(self.proc)
        self.wait_ready(timeout_s)

    @property
    def backend_endpoint(self) -> str:
        return self.addresses.destination.otlp_grpc

    def export_errors(self, limit: int = 2000) -> list[str]:
        """The collector's own log lines about failed exports to Jaeger (retries, dropped data),
        shortened to time, level, message and error."""
        lines = log_tail(self.proc.log_path, limit).splitlines() if self.proc else []
        names = self.adapted.backend_exporters
        return [short_log_line(line) for line in lines
                if _EXPORT_FAILURE.search(line) and any(n in line for n in names)]

    def exporter_counts(self) -> dict[str, float]:
        """Spans the exporters to Jaeger sent, failed to send, and batches still queued (the
        collector's own telemetry, summed over the config's backend exporters)."""
        text = requests.get(self.telemetry_url, timeout=2).text
        counts = {}
        for key, metric in (("sent", "otelcol_exporter_sent_spans"), ("failed", "otelcol_exporter_send_failed_spans"),
                            ("queued", "otelcol_exporter_queue_size")):
            names = "|".join(re.escape(n) for n in self.adapted.backend_exporters)
            counts[key] = sum(float(m.group(1)) for m in re.finditer(
                rf'^{metric}(?:_total)?{{[^}}]*exporter="(?:{names})"[^}}]*}} ([0-9.e+]+)$', text, re.M))
        return counts

    @property
    def telemetry_url(self) -> str:
        return f"http://127.0.0.1:{self.addresses.telemetry_port}/metrics"

    def tap_spans(self) -> list[Span]:
        """Everything the receivers got, before any processor: the positive control."""
        return tap_spans(self.tap_file)

    def telemetry_counter(self, metric: str) -> float:
        return telemetry_counter(self.telemetry_url, metric)

    def filtered_spans(self) -> float:
        return telemetry_counter(self.telemetry_url, FILTERED_SPANS)


FILTERED_SPANS = "otelcol_processor_filter_spans_filtered"


def tap_spans(tap_file: Path) -> list[Span]:
    """The spans in a collector's tap file (also read by a suite attached to a running stack)."""
    spans: list[Span] = []
    try:
        lines = tap_file.read_text().splitlines()
    except FileNotFoundError:
        return spans
    for line in lines:
        try:
            spans.extend(spans_from_otlp_json(json.loads(line)))
        except json.JSONDecodeError:
            continue  # a line still being written
    return spans


def telemetry_counter(telemetry_url: str, metric: str) -> float:
    """Sum of a counter from a collector's own metrics (e.g. spans the filter dropped)."""
    text = requests.get(telemetry_url, timeout=2).text
    total = 0.0
    for m in re.finditer(rf"^{re.escape(metric)}(?:_total)?(?:{{[^}}]*}})? ([0-9.e+]+)$", text, re.M):
        total += float(m.group(1))
    return total


_EXPORT_FAILURE = re.compile(r"Exporting failed|Dropping data|dropped|failed to export|export.*error", re.I)


@functools.cache
def collector_build() -> tuple[dict[str, set[str]], str]:
    """The component types of the harness's otelcol (`otelcol components`), by config section,
    and the build's name for messages."""
    binary = tool("otelcol")
    proc = subprocess.run([str(binary), "components"], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise ConfigError(f"`{binary} components` failed ({proc.stderr.strip()[-200:]}): rebuild it with `make tools`")
    listing = yaml.safe_load(proc.stdout) or {}
    build = {s: {c["name"] for c in listing.get(s) or []} for s in SECTIONS}
    return build, f"otelcol {(listing.get('buildinfo') or {}).get('version', '?')}"


# The trace backends the local pipeline runs, by their name in traces/backends.py.
LOCAL_BACKENDS = {LocalJaeger.name: LocalJaeger}


@dataclass
class TracePipeline:
    """Collector -> Jaeger, started together; the collector exports to this Jaeger. The one way
    the harness starts them: `start` (started and ready), or `launch` now and `wait_ready` later
    (the local platform starts its slower processes in between)."""

    backend: LocalJaeger  # the trace backend's process (LOCAL_BACKENDS)
    collector: LocalCollector

    @classmethod
    def launch(cls, supervisor: Supervisor, run_dir: Path, config: CollectorConfig,
               exporter_to: TraceDestination | None = None, backend: str = DEFAULT_BACKEND) -> "TracePipeline":
        """Both processes started, not yet awaited. `exporter_to` (fault tests) points the
        collector's exporter there instead of at the trace backend."""
        store = LOCAL_BACKENDS[backend](supervisor, run_dir).start()
        collector = LocalCollector(supervisor, run_dir, config, exporter_to or store.destination).start()
        return cls(store, collector)

    def wait_ready(self, timeouts: PipelineTimeouts = PipelineTimeouts(),
                   stats: WaitStats | None = None) -> "TracePipeline":
        self.backend.wait_ready(timeouts.jaeger_ready_s, stats)
        self.collector.wait_ready(timeouts.collector_ready_s, stats)
        return self

    @classmethod
    def start(cls, supervisor: Supervisor, run_dir: Path, config: CollectorConfig,
              timeouts: PipelineTimeouts = PipelineTimeouts(), stats: WaitStats | None = None,
              exporter_to: TraceDestination | None = None, backend: str = DEFAULT_BACKEND) -> "TracePipeline":
        return cls.launch(supervisor, run_dir, config, exporter_to, backend).wait_ready(timeouts, stats)
