"""The state file of a local stack left running by `llmd-trace-e2e local up`: where it is,
which processes it runs, which folders it owns. One stack per artifacts folder, at
<artifacts>/local/stack.json; `local status`, `local down` and `pytest --attach` read it."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from llmd_trace_e2e.runtime.errors import ConfigError

STATE_VERSION = 4  # 4: jaeger_query_url became trace_query_url, beside the trace_backend it answers for


def state_path(artifacts: Path) -> Path:
    return Path(artifacts).resolve() / "local" / "stack.json"


def process_started(pid: int) -> float | None:
    """The process's start time (its identity with the pid: pids are reused), None if gone."""
    try:
        proc = psutil.Process(pid)
        return None if proc.status() == psutil.STATUS_ZOMBIE else proc.create_time()
    except psutil.Error:
        return None


@dataclass(frozen=True)
class ProcessRef:
    name: str
    pid: int
    started: float  # psutil create_time
    port: int | None = None  # the port that answers when the component is up
    log: str = ""

    def alive(self) -> bool:
        return process_started(self.pid) == self.started


@dataclass(frozen=True)
class StackState:
    server: ProcessRef  # the detached process that owns the stack (python -m llmd_trace_e2e.platforms.local.stack serve)
    run_dir: str
    profile: str
    collector_config: str | None  # as given to `local up`; None: the repo's
    started_at: str  # ISO 8601, UTC
    ready_after_s: float
    gateway_url: str
    trace_backend: str  # its name in traces/backends.py
    trace_query_url: str  # the trace backend's query API
    collector_otlp_grpc: str
    collector_otlp_http: str
    collector_telemetry_url: str  # the collector's own metrics (spans its filter dropped)
    tap_file: str  # what the collector received, before its filter (JSON lines)
    control_url: str  # the server's control endpoint (values for variants, diagnosis)
    baseline: dict[str, Any]
    values: dict[str, Any]  # in effect now
    private_dirs: list[str] = field(default_factory=list)  # removed by `local down` (credentials, vLLM scratch)
    components: list[ProcessRef] = field(default_factory=list)
    absent: dict[str, str] = field(default_factory=dict)  # component -> why it does not run (the profile's, as run)
    shown_versions: dict[str, str] = field(default_factory=dict)  # what runs as each component
    # part -> [project, version or None, source]: the releases brought binaries decide gaps by (--component)
    brought_parts: dict[str, list] = field(default_factory=dict)
    version: int = STATE_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str, source: Path) -> "StackState":
        try:
            doc = json.loads(text)
            if doc.get("version") != STATE_VERSION:
                raise ValueError(f"version {doc.get('version')}, expected {STATE_VERSION}")
            doc["server"] = ProcessRef(**doc["server"])
            doc["components"] = [ProcessRef(**c) for c in doc.get("components", [])]
            return cls(**doc)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ConfigError(f"the stack state file {source} cannot be read ({exc}): "
                              "run `llmd-trace-e2e local down` to clear it") from None

    def write(self, path: Path) -> None:
        """Atomically: a reader sees the old file or the new one, never half of one."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(self.to_json())
        tmp.replace(path)

    def summary(self) -> list[tuple[str, str]]:
        return [("gateway", self.gateway_url), ("jaeger query", self.trace_query_url),
                ("collector OTLP gRPC", self.collector_otlp_grpc), ("collector OTLP HTTP", self.collector_otlp_http),
                ("logs", self.run_dir), ("profile", self.profile),
                *((f"runs as {role}", what) for role, what in self.shown_versions.items() if role in ("epp", "routing-proxy")),
                *((f"no {role}", why) for role, why in self.absent.items())]


def component_ports(platform) -> dict[str, int]:
    """The port that answers when each component is up (status checks it)."""
    ports = {platform.trace_backend.name: platform.trace_backend.query_port, "collector": platform.collector.addresses.otlp_grpc_port,
             "epp": platform.epp.grpc_port, "gateway": platform.gateway.settings.port, "vllm-decode": platform.vllm.port}
    ports.update({v.proc.name: v.port for v in getattr(platform, "extra_vllms", None) or []})
    ports.update({p.proc.name: p.port for p in getattr(platform, "proxies", None) or []})
    if platform.control_plane:
        ports.update({"etcd": platform.control_plane.etcd_port, "kube-apiserver": platform.control_plane.apiserver_port})
    return ports


def read_state(path: Path) -> StackState | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return StackState.from_json(text, path)


@dataclass(frozen=True)
class StopList:
    """What `local down` needs from a state file it cannot read whole (an older harness wrote it)."""

    server: ProcessRef
    components: list[ProcessRef]
    private_dirs: list[str]


def read_stop_list(path: Path) -> StopList | None:
    """The processes and folders of a state file, even one of another version; None if there is none."""
    try:
        state = read_state(path)
    except ConfigError:
        state = None
        try:
            doc = json.loads(path.read_text())
            keys = ("name", "pid", "started", "port", "log")
            ref = lambda d: ProcessRef(**{k: d[k] for k in keys if k in d})  # noqa: E731
            return StopList(ref(doc["server"]), [ref(c) for c in doc.get("components", [])],
                            list(doc.get("private_dirs", [])))
        except (OSError, ValueError, TypeError, KeyError):
            return None
    return state and StopList(state.server, state.components, state.private_dirs)


def stale_error(state: StackState, path: Path) -> ConfigError:
    return ConfigError(f"the local stack of {path} is gone (its server, pid {state.server.pid}, is not running): "
                       "run `llmd-trace-e2e local down` to clear what it left")


def running_state(path: Path) -> StackState:
    """The state of a live stack, or a one-line ConfigError naming the fix."""
    state = read_state(path)
    if state is None:
        raise ConfigError(f"no local stack is running for {path.parent.parent} (no {path}): "
                          "start one with `llmd-trace-e2e local up`")
    if not state.server.alive():
        raise stale_error(state, path)
    return state
