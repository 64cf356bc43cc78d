"""What the e2e suite needs from a platform, whichever it is (local processes or kind)."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping, Protocol, Sequence

from llmd_trace_e2e.deployment.charts import epp_launch, vllm_launch
from llmd_trace_e2e.deployment.collector_config import CollectorConfig
from llmd_trace_e2e.deployment.gateway_values import GatewayTracing
from llmd_trace_e2e.runtime.diagnose import Diagnosis
from llmd_trace_e2e.platforms.abilities import SpanTap
from llmd_trace_e2e.deployment.profiles import Profile
from llmd_trace_e2e.deployment.values import lookup
from llmd_trace_e2e.traces.assertions import Check, expect, expect_now
from llmd_trace_e2e.traces.query import TraceQuery
from llmd_trace_e2e.traces.model import Span
from llmd_trace_e2e.traces.patterns import GUIDE_CONDITIONS
from llmd_trace_e2e.traces.span_queries import SpanQuery
from llmd_trace_e2e.traffic import canaries

COMPONENTS = ("epp", "routing-proxy", "vllm-decode")
# OTEL_BSP_SCHEDULE_DELAY's default (5000 ms) in the Python and Go SDKs: vLLM and the EPP hold a
# span this long before sending it, where nothing sets the variable (no chart does).
SDK_BATCH_DELAY_S = 5.0
SPAN_TIMEOUT_S = 30.0  # the collector's batch timeout is 1 s; Jaeger ingests at once
SpansWanted = SpanQuery | Callable[[], Sequence[Span]]  # a query of traces.span_queries, or a function


class Platform(Protocol):
    """Everything the suite, the reports and the bench use of a platform. What only some
    platforms can do (a tap before the collector's filter, its filter count, pods) are the
    small interfaces of platforms.abilities."""

    name: str
    profile: Profile
    baseline: Mapping[str, Any]  # the run's merged Helm values
    values: Mapping[str, Any]  # the values in effect now (the baseline, or a variant's)
    gateway_url: str
    collector_otlp_grpc: str  # where the harness's own canary and barrier spans enter the collector
    gateway_service: str | None  # the service.name of the gateway's spans; None: it does not trace
    collector_config: CollectorConfig  # the config the run's collector runs, as given
    model: str
    traces: TraceQuery  # the trace backend the collector exports to, asked for what arrived
    started_at: datetime
    artifacts: Path
    timings: Mapping[str, float]  # seconds from the start to each component's readiness ({} where unmeasured)
    export_batch_delay_s: float  # the longest an exporter on the request path holds a span before sending it
    # Components whose tracing is on but whose spans never reached the collector, with why: found
    # once by the suite from its first request (platforms.silence); empty until then.
    silent: Mapping[str, str]

    def apply_variant(self, overlay: Mapping[str, Any], on_purpose: str = "") -> None:
        """Layer the overlay on the baseline, restarting only what it changes. It stays applied
        until the next apply_variant or reset(): the suite resets before every test that is not a
        variant, so consecutive variants restart only what differs between them. Values with which
        the suite could check nothing (deployment.traceability) are refused (Untraceable) unless
        `on_purpose` says why the test needs them."""

    def reset(self) -> None:
        """Back to the run's own values, restarting only what a variant changed."""

    def logs_hint(self) -> str:
        """Where a person finds the logs of this run."""

    def collector_config_is_guides(self) -> bool:
        """Whether the collector runs the guide's own filter conditions (known gaps apply)."""

    def diagnosis(self) -> Diagnosis:
        """What the platform knows about a failure, for `expect(..., diagnosis=...)`: asked only
        when a check fails, so it looks at the components as they are then."""

    def expect_spans(self, wanted: SpansWanted, checks: Sequence[Check], what: str) -> list[Span]:
        """Fetch the spans until every check passes (SPAN_TIMEOUT_S); fail with what arrived, this
        platform's diagnosis and where its logs are."""

    def expect_spans_now(self, spans: SpansWanted | Sequence[Span], checks: Sequence[Check], what: str) -> None:
        """One look: for a negative check made after its positive control passed, or after settle()."""

    def settle(self, *ended: Any) -> float:
        """Return once everything exported for work that ended by `ended` is in the backend (and
        the tap, where there is one): a span absent afterwards is not coming."""


class SharedPlatformParts:
    """What both platforms answer the same way, from their profile, values and collector config."""

    artifacts: Path
    values: Mapping[str, Any]
    collector_config: CollectorConfig
    export_batch_delay_s = SDK_BATCH_DELAY_S
    silent: Mapping[str, str] = MappingProxyType({})

    @property
    def gateway_service(self) -> str | None:
        return GatewayTracing.from_values(self.values).service

    def logs_hint(self) -> str:
        return str(self.artifacts)

    def collector_config_is_guides(self) -> bool:
        return self.collector_config.filter_conditions() == list(GUIDE_CONDITIONS)

    def expect_spans(self, wanted: SpansWanted, checks: Sequence[Check], what: str) -> list[Span]:
        return expect(self._fetcher(wanted), checks, SPAN_TIMEOUT_S, context=what, logs_hint=self.logs_hint(),
                      diagnosis=self.diagnosis())

    def expect_spans_now(self, spans: SpansWanted | Sequence[Span], checks: Sequence[Check], what: str) -> None:
        seen = spans if isinstance(spans, Sequence) else self._fetcher(spans)()
        expect_now(seen, checks, context=what, logs_hint=self.logs_hint(), diagnosis=self.diagnosis())

    def settle(self, *ended: Any) -> float:
        tap = self.unfiltered_spans if isinstance(self, SpanTap) else None
        return canaries.settle(self, *ended, tap=tap)

    def variant(self, *_args, **_kwargs):
        raise TypeError("platform.variant() is gone: call platform.apply_variant(overlay, on_purpose=...), "
                        "which stays applied until the next apply_variant or reset() (no `with` block)")

    def _fetcher(self, wanted: SpansWanted) -> Callable[[], Sequence[Span]]:
        if isinstance(wanted, SpanQuery):
            return lambda: wanted.fetch(self.traces)
        return wanted


def expected_service(values: Mapping[str, Any], profile: Profile, component: str) -> str | None:
    """The service.name a component should export under for these values, None when the
    charts would leave its tracing off."""
    if component == "epp":
        return profile.services["epp"] if epp_launch(values, profile).tracing else None
    if component in ("vllm-decode", "vllm-prefill"):
        launch = vllm_launch(values, profile, component.removeprefix("vllm-"))
        return launch.env.get("OTEL_SERVICE_NAME") if launch.tracing else None
    if component == "routing-proxy":
        schema = profile.values_schema["modelservice"]
        named = lookup(values, f"{schema.path}.serviceNames.routingProxy") \
            if "serviceNames.routingProxy" in schema.keys else None
        return str(named) if named else profile.services.get(component)
    return profile.services.get(component)


def component_services(values: Mapping[str, Any], profile: Profile,
                       gateway_service: str | None) -> dict[str, str | None]:
    """Each component of an expected trace tree (traces.tree.COMPONENTS) -> the service.name its
    spans carry under these values; None where it makes no spans (not run, tracing off)."""
    from llmd_trace_e2e.traffic.openai_sdk import CLIENT_SERVICE

    out: dict[str, str | None] = {"caller": CLIENT_SERVICE, "gateway": gateway_service}
    for component in ("epp", "routing-proxy", "vllm-decode", "vllm-prefill"):
        out[component] = expected_service(values, profile, component) if profile.runs(component) else None
    return out
