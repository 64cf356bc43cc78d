"""`verify-collector-config`: run a user's collector config for real and show which /metrics
canaries it drops and which ordinary spans it keeps."""
from __future__ import annotations

import copy
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .canary import CONTROL_CANARIES, SentCanary, metrics_canaries, send_canaries
from .collector_config import CollectorConfig
from .errors import WaitTimeout
from .pipeline import TracePipeline
from .procs import Supervisor
from .traces.jaeger import JaegerClient
from .traces.render import markdown_table
from .waits import Pending, wait_for


@dataclass(frozen=True)
class CanaryOutcome:
    sent: SentCanary
    arrived: bool

    @property
    def ok(self) -> bool:
        return self.arrived != self.sent.canary.must_drop


@dataclass(frozen=True)
class VerifyReport:
    source: str
    outcomes: tuple[CanaryOutcome, ...]

    @property
    def passed(self) -> bool:
        return all(o.ok for o in self.outcomes)

    def leaked(self) -> list[str]:
        return [o.sent.canary.label for o in self.outcomes if o.sent.canary.must_drop and o.arrived]

    def table(self) -> str:
        rows = []
        for o in self.outcomes:
            c = o.sent.canary
            expected = "dropped" if c.must_drop else "kept"
            rows.append((c.label, f"`{c.name}`", expected, "kept" if o.arrived else "dropped",
                         "ok" if o.ok else "FAIL"))
        return markdown_table(("pattern", "span", "expected", "outcome", "verdict"), rows)


def check_canaries(otlp_grpc_endpoint: str, jaeger: JaegerClient, timeout_s: float = 30.0) -> tuple[CanaryOutcome, ...]:
    """Send the /metrics canaries, then the controls; once every control is in Jaeger, the
    canaries sent before them have been through the pipeline too, so absence means dropped."""
    sent = send_canaries(otlp_grpc_endpoint, metrics_canaries() + list(CONTROL_CANARIES))
    controls = [s for s in sent if not s.canary.must_drop]

    def controls_arrived():
        missing = [s.canary.label for s in controls if jaeger.trace(s.trace_id) is None]
        return True if not missing else Pending(f"control spans not yet in Jaeger: {', '.join(missing)}")

    try:
        wait_for("the control spans to reach Jaeger", controls_arrived, timeout_s)
    except WaitTimeout:
        pass  # reported below as controls that did not arrive
    return tuple(CanaryOutcome(s, jaeger.trace(s.trace_id) is not None) for s in sent)


def verify_collector_config(config: CollectorConfig, run_dir: Path | None = None) -> VerifyReport:
    with tempfile.TemporaryDirectory(prefix="verify-collector-") as tmp:
        folder = run_dir or Path(tmp)
        with Supervisor(folder) as supervisor:
            pipeline = TracePipeline.start(supervisor, folder, config)
            outcomes = check_canaries(pipeline.collector.otlp_grpc_endpoint, pipeline.jaeger.client())
    return VerifyReport(config.source, outcomes)


def without_filters(config: CollectorConfig) -> CollectorConfig:
    """The same config with its filter processors taken out of every pipeline (a positive control)."""
    body = copy.deepcopy(config.body)
    for pipeline in (body.get("service") or {}).get("pipelines", {}).values():
        procs: Sequence[str] = pipeline.get("processors", [])
        pipeline["processors"] = [p for p in procs if not (p == "filter" or p.startswith("filter/"))]
    return CollectorConfig(f"{config.source} without filters", body)
