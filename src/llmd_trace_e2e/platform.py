"""What the e2e suite needs from a platform, whichever it is (local processes or kind)."""
from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping, Protocol

from .charts import epp_launch, vllm_launch
from .collector_config import CollectorConfig
from .diagnose import Diagnosis
from .profiles import Profile
from .traces.jaeger import JaegerClient
from .traces.model import Span

COMPONENTS = ("epp", "routing-proxy", "vllm-decode")


class Platform(Protocol):
    name: str
    profile: Profile
    baseline: Mapping[str, Any]  # the run's merged Helm values
    values: Mapping[str, Any]  # the values in effect now (the baseline, or a variant's)
    gateway_url: str
    collector_otlp_grpc: str  # where the harness's own canary and barrier spans enter the collector
    gateway_service: str | None  # the service.name of the gateway's spans; None: it does not trace
    collector_config: CollectorConfig  # the config the run's collector runs, as given
    model: str
    jaeger: JaegerClient
    started_at: datetime
    artifacts: Path

    def unfiltered_spans(self) -> list[Span] | None:
        """Spans as they reached the collector, before its filter (None: not observable here)."""

    def filtered_span_count(self) -> float | None:
        """The collector's own count of spans its filter dropped (None: not observable here)."""

    def variant(self, overlay: Mapping[str, Any]) -> AbstractContextManager[None]:
        """Run the enclosed block with extra values layered on top, then restore."""

    def logs_hint(self) -> str:
        """Where a person finds the logs of this run."""

    def collector_config_is_guides(self) -> bool:
        """Whether the collector runs the guide's own filter conditions (known gaps apply)."""

    def diagnosis(self) -> Diagnosis:
        """What the platform knows about a failure, for `expect(..., diagnosis=...)`: asked only
        when a check fails, so it looks at the components as they are then."""


def expected_service(values: Mapping[str, Any], profile: Profile, component: str) -> str | None:
    """The service.name a component should export under for these values, None when the
    charts would leave its tracing off."""
    if component == "epp":
        return profile.services["epp"] if epp_launch(values, profile).tracing else None
    if component in ("vllm-decode", "vllm-prefill"):
        launch = vllm_launch(values, profile, component.removeprefix("vllm-"))
        return launch.env.get("OTEL_SERVICE_NAME") if launch.tracing else None
    return profile.services.get(component)
