"""A user's collector config, made to run here as written.

Only addresses change: the receivers' listen addresses, and the destination of each exporter
that sends traces to a backend (it points at the run's trace backend, a `TraceDestination`, and
stays in its pipelines). Each platform decides the destination in one place: the local pipeline's
`LocalJaeger.destination`, kind's `manifests.trace_destination`.
Pipelines, connectors and processors are never touched; metrics and logs pipelines are left
alone. What else changes is said in one line each (`Adapted.notes`):
- TLS, auth and headers of an exporter pointed at the run's backend are set aside (it takes plain
  OTLP), and so is an auth extension only they used;
- locally, extensions that listen (health_check, pprof, zpages) move to free 127.0.0.1 ports,
  `file` exporters write into the run folder, the collector's own telemetry is served where the
  harness reads it, and one pipeline is added: the unfiltered tap (the positive control).
A component the harness's collector build lacks is refused in one line naming it.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.deployment.collector_config import CollectorConfig
from llmd_trace_e2e.deployment.collector_paths import backend_paths, component_type, first_traces_receiver

TAP_PIPELINE = "traces/harness-tap"
TAP_EXPORTER = "file/harness-tap"
LISTENING_EXTENSIONS = ("health_check", "pprof", "zpages")
SECTIONS = ("receivers", "processors", "exporters", "connectors", "extensions")
# Old type names the collector still accepts for the same components.
ALIASES = {"otlp": "otlp_grpc", "otlphttp": "otlp_http"}
SET_ASIDE = ("tls", "auth", "headers")


@dataclass(frozen=True)
class Adapted:
    config: CollectorConfig
    receiver: str  # the OTLP receiver the harness and the components send to
    notes: tuple[str, ...] = ()
    backend_exporters: tuple[str, ...] = ()  # the exporters that send its traces to the run's backend


@dataclass(frozen=True)
class TraceDestination:
    """Where the collector's trace exporters send: the run's trace backend, which takes plain OTLP."""

    otlp_grpc: str  # host:port
    otlp_http: str  # http://host:port
    named: str  # how the notes name it, e.g. "the run's Jaeger"


@dataclass
class LocalTargets:
    """Where a locally run config's addresses go."""

    otlp_grpc_port: int
    otlp_http_port: int
    telemetry_port: int
    destination: TraceDestination
    run_dir: Path
    tap_file: Path | None = None
    spare_ports: list[int] = field(default_factory=list)  # for other receivers and extensions


def check_components(config: CollectorConfig, build: Mapping[str, set[str]], build_name: str) -> None:
    """Refuse a config naming a component type the collector build lacks (one line naming it)."""
    for section in SECTIONS:
        for name in (config.body.get(section) or {}):
            kind = component_type(name)
            if kind not in build.get(section, set()) and ALIASES.get(kind) not in build.get(section, set()):
                raise ConfigError(
                    f"{config.source}: {section[:-1]} `{name}` is not in the harness's collector build "
                    f"({build_name}, config/collector/builder.yaml): remove it, or add its module at the "
                    "same release there and run `make tools`")


def harness_receiver(config: CollectorConfig) -> str:
    receiver = first_traces_receiver(config)
    if receiver is None or component_type(receiver) != "otlp":
        raise ConfigError(f"{config.source}: the first receiver of its traces pipelines is {receiver!r}; "
                          "the harness sends OTLP: list an `otlp` receiver first")
    protocols = (((config.body.get("receivers") or {}).get(receiver) or {}).get("protocols")) or {}
    if "grpc" not in protocols:
        raise ConfigError(f"{config.source}: receiver {receiver} has no protocols.grpc; the components and "
                          "the harness send OTLP over gRPC: add `grpc:` under its protocols")
    return receiver


def traces_backends(config: CollectorConfig) -> tuple[str, ...]:
    """The exporters at the end of a traces path (an OTLP exporter only in a metrics or logs
    pipeline is left alone)."""
    return tuple(sorted({p.exporter for p in backend_paths(config)}))


def _redirect_backends(body: dict[str, Any], backends: tuple[str, ...], to: TraceDestination,
                       notes: list[str]) -> None:
    """Each backend exporter sends to the run's backend, in plain OTLP; the rest of its settings stay."""
    where = f"{to.named} ({to.otlp_grpc})"
    exporters = body.get("exporters") or {}
    set_aside_auth: set[str] = set()
    for name, cfg in exporters.items():
        if name not in backends:
            continue
        cfg = dict(cfg or {})
        aside = [k for k in SET_ASIDE if k in cfg and not (k == "tls" and cfg[k] == {"insecure": True})]
        if "auth" in cfg:
            set_aside_auth.add(str((cfg["auth"] or {}).get("authenticator", "")))
        for key in SET_ASIDE:
            cfg.pop(key, None)
        if component_type(name) in ("otlp", "otlp_grpc"):
            cfg["endpoint"], cfg["tls"] = to.otlp_grpc, {"insecure": True}
        else:
            cfg["endpoint"] = to.otlp_http
            for key in ("traces_endpoint", "metrics_endpoint", "logs_endpoint"):
                cfg.pop(key, None)
        exporters[name] = cfg
        if aside:
            notes.append(f"exporter {name}: {', '.join(aside)} set aside: it sends to {where}, which takes plain OTLP")
    _drop_unused_auth(body, set_aside_auth - {""}, notes)


def _authenticators_in_use(body: dict[str, Any]) -> set[str]:
    """Extensions named by an `auth: {authenticator: ...}` of a receiver protocol or an exporter."""
    used = set()
    for cfg in (body.get("exporters") or {}).values():
        used.add(str(((cfg or {}).get("auth") or {}).get("authenticator", "")))
    for cfg in (body.get("receivers") or {}).values():
        for proto in ((cfg or {}).get("protocols") or {}).values():
            used.add(str(((proto or {}).get("auth") or {}).get("authenticator", "")))
    return used - {""}


def _drop_unused_auth(body: dict[str, Any], authenticators: set[str], notes: list[str]) -> None:
    service = body.get("service") or {}
    for ext in sorted(authenticators - _authenticators_in_use(body)):
        (body.get("extensions") or {}).pop(ext, None)
        if ext in (service.get("extensions") or []):
            service["extensions"] = [e for e in service["extensions"] if e != ext]
        notes.append(f"extension {ext}: set aside with the exporter auth that used it")


def _endpoint(port: int) -> str:
    return f"127.0.0.1:{port}"


def local_ports_needed(config: CollectorConfig) -> int:
    """Spare ports adapt_for_local needs beyond the harness receiver's two."""
    receivers = config.body.get("receivers") or {}
    extensions = config.body.get("extensions") or {}
    return sum(len(((cfg or {}).get("protocols") or {})) for cfg in receivers.values()) + len(extensions)


def adapt_for_local(config: CollectorConfig, to: LocalTargets) -> Adapted:
    receiver = harness_receiver(config)
    body = copy.deepcopy(config.body)
    notes: list[str] = []
    spare: Iterator[int] = iter(to.spare_ports)
    for name, cfg in (body.get("receivers") or {}).items():
        protocols = (cfg or {}).get("protocols") or {}
        for proto in list(protocols):
            port = {"grpc": to.otlp_grpc_port, "http": to.otlp_http_port}[proto] if name == receiver \
                else next(spare)
            settings = dict(protocols[proto] or {})
            if "tls" in settings or "auth" in settings:
                notes.append(f"receiver {name} ({proto}): tls/auth set aside: the harness sends plain OTLP")
                settings.pop("tls", None)
                settings.pop("auth", None)
            protocols[proto] = {**settings, "endpoint": _endpoint(port)}
    backends = traces_backends(config)
    _redirect_backends(body, backends, to.destination, notes)
    for name, cfg in (body.get("exporters") or {}).items():
        if component_type(name) == "file":
            path = to.run_dir / f"exporter-{name.replace('/', '-')}.jsonl"
            body["exporters"][name] = {**(cfg or {}), "path": str(path)}
            notes.append(f"exporter {name}: writes to {path}")
    service = body.setdefault("service", {})
    for name in service.get("extensions") or []:
        if component_type(name) in LISTENING_EXTENSIONS:
            ext = body.setdefault("extensions", {})
            address = _endpoint(next(spare))
            ext[name] = {**(ext.get(name) or {}), "endpoint": address}
            notes.append(f"extension {name}: listens on {address} (a free port)")
    if to.tap_file is not None:
        body.setdefault("exporters", {})[TAP_EXPORTER] = {"path": str(to.tap_file)}
        service.setdefault("pipelines", {})[TAP_PIPELINE] = {
            "receivers": [receiver], "processors": [], "exporters": [TAP_EXPORTER]}
        notes.append(f"added pipeline {TAP_PIPELINE} ({receiver} -> {TAP_EXPORTER}): the unfiltered tap, "
                     "what the receiver got before any processor")
    service["telemetry"] = {
        "logs": {"level": "info"},
        "metrics": {"level": "detailed", "readers": [{"pull": {"exporter": {"prometheus": {
            "host": "127.0.0.1", "port": to.telemetry_port}}}}]},
    }
    return Adapted(CollectorConfig(f"{config.source} (adapted for 127.0.0.1)", body), receiver, tuple(notes), backends)


def adapt_for_cluster(config: CollectorConfig, to: TraceDestination, grpc_port: int, http_port: int) -> Adapted:
    """The same change for a collector pod: the harness receiver listens on all interfaces at the
    Service's ports, backend exporters send to `to`; nothing else moves."""
    receiver = harness_receiver(config)
    body = copy.deepcopy(config.body)
    notes: list[str] = []
    protocols = body["receivers"][receiver]["protocols"]
    for proto, port in (("grpc", grpc_port), ("http", http_port)):
        if proto in protocols:
            want = f"0.0.0.0:{port}"
            if (protocols[proto] or {}).get("endpoint") != want:
                protocols[proto] = {**(protocols[proto] or {}), "endpoint": want}
                notes.append(f"receiver {receiver} ({proto}): listens on {want} (the collector Service's port)")
    before = copy.deepcopy(body.get("exporters"))
    backends = traces_backends(config)
    _redirect_backends(body, backends, to, notes)
    for name, cfg in (body.get("exporters") or {}).items():
        if cfg != (before or {}).get(name):
            notes.append(f"exporter {name}: sends to {to.named}")
    return Adapted(CollectorConfig(config.source, body), receiver, tuple(notes), backends)
