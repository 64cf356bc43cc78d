"""What the charts would hand each container, computed from Helm values without Kubernetes.

The local platform starts processes with exactly the tracing flags and environment that
llm-d-modelservice and the GAIE inferencepool chart render for these values, including what
they do not do (no tracing for `modelCommand: custom`; the chart's OTEL_SERVICE_NAME after the
container's own env, where Kubernetes keeps the last of duplicate names).
Sources: llm-d-modelservice templates/_helpers.tpl; GAIE config/charts/epplib/templates/_deployment.yaml.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping
from urllib.parse import urlparse

from .profiles import Profile
from .values import COLLECTOR_ENDPOINT, lookup


@dataclass(frozen=True)
class Launch:
    """A container's tracing-relevant launch: args appended to its command, env in render order."""

    args: tuple[str, ...] = ()
    env_list: tuple[tuple[str, str], ...] = ()
    tracing: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def env(self) -> dict[str, str]:
        """Kubernetes semantics: of duplicate names, the last one wins."""
        return dict(self.env_list)


def _env_items(env: Iterable[Mapping[str, Any]] | None) -> list[tuple[str, str]]:
    return [(e["name"], str(e["value"])) for e in env or [] if isinstance(e, Mapping) and "value" in e]


@dataclass(frozen=True)
class ModelServiceTracing:
    enabled: bool
    endpoint: str
    sampler: str
    sampler_arg: str
    service_names: Mapping[str, str]
    collect_detailed_traces: str | None


def modelservice_tracing(values: Mapping[str, Any], profile: Profile) -> ModelServiceTracing:
    block = lookup(values, profile.values_schema["modelservice"].path, {}) or {}
    names = {"vllmDecode": "vllm-decode", "vllmPrefill": "vllm-prefill", "routingProxy": "routing-proxy"}
    names.update(lookup(block, "serviceNames", {}) or {})
    return ModelServiceTracing(
        enabled=bool(block.get("enabled", False)),
        endpoint=str(block.get("otlpEndpoint", COLLECTOR_ENDPOINT)),
        sampler=str(lookup(block, "sampling.sampler", "parentbased_traceidratio")),
        sampler_arg=str(lookup(block, "sampling.samplerArg", "1.0")),
        service_names=names,
        collect_detailed_traces=lookup(block, "vllm.collectDetailedTraces"),
    )


def vllm_launch(values: Mapping[str, Any], profile: Profile, role: str = "decode") -> Launch:
    """The vLLM container of `role` (decode/prefill): its own env, then the chart's tracing."""
    container = (lookup(values, f"{role}.containers", [{}]) or [{}])[0]
    env = _env_items(container.get("env"))
    tracing = modelservice_tracing(values, profile)
    command = container.get("modelCommand", "custom")
    if not tracing.enabled:
        return Launch(env_list=tuple(env), notes=("tracing.enabled is false: no tracing env or args",))
    if command not in ("vllmServe", "imageDefault"):
        return Launch(env_list=tuple(env), notes=(
            f"modelCommand {command!r}: the chart injects no tracing env or args (add them to the command)",))
    name = tracing.service_names["vllmDecode" if role == "decode" else "vllmPrefill"]
    env += [("OTEL_SERVICE_NAME", name), ("OTEL_EXPORTER_OTLP_ENDPOINT", tracing.endpoint),
            ("OTEL_TRACES_EXPORTER", "otlp"), ("OTEL_TRACES_SAMPLER", tracing.sampler),
            ("OTEL_TRACES_SAMPLER_ARG", tracing.sampler_arg)]
    args = ["--otlp-traces-endpoint", tracing.endpoint]
    if tracing.collect_detailed_traces:
        args += ["--collect-detailed-traces", str(tracing.collect_detailed_traces)]
    return Launch(tuple(args), tuple(env), True)


def epp_launch(values: Mapping[str, Any], profile: Profile) -> Launch:
    """The GAIE inferencepool chart's EPP container (inferenceExtension.tracing.*)."""
    path = profile.values_schema["epp"].path
    block = lookup(values, path, {}) or {}
    enabled = bool(block.get("enabled", False))
    env: list[tuple[str, str]] = []
    if enabled:
        env = [("OTEL_SERVICE_NAME", "gateway-api-inference-extension/epp"),
               ("OTEL_EXPORTER_OTLP_ENDPOINT", str(block.get("otelExporterEndpoint", "http://localhost:4317"))),
               ("OTEL_TRACES_EXPORTER", "otlp"),
               ("OTEL_RESOURCE_ATTRIBUTES", "k8s.namespace.name=llmd-trace-e2e,k8s.pod.name=epp-local"),
               ("OTEL_TRACES_SAMPLER", str(lookup(block, "sampling.sampler", "parentbased_traceidratio"))),
               ("OTEL_TRACES_SAMPLER_ARG", str(lookup(block, "sampling.samplerArg", "0.1")))]
    env += _env_items(lookup(values, "inferenceExtension.env"))
    return Launch((f"--tracing={'true' if enabled else 'false'}",), tuple(env), enabled)


def is_in_cluster(endpoint: str) -> bool:
    host = urlparse(endpoint).hostname or ""
    return host.endswith(".svc.cluster.local") or host.endswith(".svc")


def localize(launch: Launch, collector_endpoint: str) -> Launch:
    """Point in-cluster collector addresses at the local collector; anything else stays as the
    values say (a wrong endpoint must stay wrong, so the suite can report it)."""
    def swap(value: str) -> str:
        return collector_endpoint if value.startswith(("http://", "https://", "grpc://")) and is_in_cluster(value) else value

    return Launch(tuple(swap(a) for a in launch.args), tuple((k, swap(v)) for k, v in launch.env_list),
                  launch.tracing, launch.notes)
