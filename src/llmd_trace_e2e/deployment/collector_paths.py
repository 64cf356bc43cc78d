"""The paths a span takes through a collector config, as written: from a receiver, through each
traces pipeline and connector on the way, to an exporter that sends it to a backend.

What counts as a filter: a `filter` processor (`filter` or `filter/NAME`) with span conditions,
anywhere on the path (a filter in the first stage of a forward-connector chain filters the whole
path). Sampling processors (`probabilistic_sampler`, `tail_sampling`) are not filters: they drop
spans by chance or by trace, not by what the span is, so a path whose only drop is a sampler
carries /metrics spans past no filter.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from llmd_trace_e2e.traces.patterns import SpanPattern


class _Config(Protocol):  # deployment.collector_config.CollectorConfig (which imports this module)
    body: dict[str, Any]

    def traces_pipelines(self) -> dict[str, dict[str, Any]]: ...

# Exporter types that send spans to a tracing backend (OTLP over gRPC or HTTP, with the old
# names the collector still accepts as aliases). debug, file and the like are no backend.
BACKEND_EXPORTER_TYPES = ("otlp", "otlp_grpc", "otlphttp", "otlp_http")
SAMPLING_PROCESSOR_TYPES = ("probabilistic_sampler", "tail_sampling")


def component_type(name: str) -> str:
    """`otlp/jaeger` -> `otlp`: a component id is TYPE or TYPE/NAME."""
    return name.split("/", 1)[0]


def is_filter(name: str) -> bool:
    return component_type(name) == "filter"


def is_backend_exporter(name: str) -> bool:
    return component_type(name) in BACKEND_EXPORTER_TYPES


def is_traces(pipeline: str) -> bool:
    return component_type(pipeline) == "traces"


@dataclass(frozen=True)
class SpanPath:
    """One way a span received by `receiver` reaches `exporter`: the pipelines in order (joined
    by connectors), the processors they run, and the filter conditions among them."""

    receiver: str
    pipelines: tuple[str, ...]
    connectors: tuple[str, ...]  # between consecutive pipelines
    processors: tuple[str, ...]
    exporter: str
    conditions: tuple[str, ...]

    @property
    def filtered(self) -> bool:
        return bool(self.conditions)

    @property
    def samplers(self) -> tuple[str, ...]:
        return tuple(p for p in self.processors if component_type(p) in SAMPLING_PROCESSOR_TYPES)

    def patterns(self) -> list[SpanPattern]:
        return [SpanPattern.parse(c) for c in self.conditions]

    def describe(self) -> str:
        hops = [self.receiver]
        for i, pipeline in enumerate(self.pipelines):
            hops.append(pipeline)
            if i < len(self.connectors):
                hops.append(self.connectors[i])
        hops.append(self.exporter)
        return " -> ".join(hops)


def _span_conditions(processor_cfg: Any) -> list[str]:
    traces = (processor_cfg or {}).get("traces") or {}
    return list(traces.get("span") or []) + list(traces.get("spanevent") or [])


def backend_paths(config: _Config, receiver: str | None = None) -> list[SpanPath]:
    """Every path from a receiver (or the one named) to a backend exporter, in the order the
    pipelines are written. A pipeline reached twice on one path (a connector loop) ends it."""
    body = config.body
    pipelines = {name: p for name, p in config.traces_pipelines().items()}
    connectors = set((body.get("connectors") or {}).keys())
    processors = body.get("processors") or {}
    paths: list[SpanPath] = []

    def walk(start: str, chain: tuple[str, ...], joins: tuple[str, ...], procs: tuple[str, ...],
             conditions: tuple[str, ...]) -> None:
        pipeline = pipelines[chain[-1]]
        procs = procs + tuple(pipeline.get("processors") or [])
        for proc in pipeline.get("processors") or []:
            if is_filter(proc):
                conditions = conditions + tuple(_span_conditions(processors.get(proc)))
        for exporter in pipeline.get("exporters") or []:
            if exporter in connectors:
                for nxt, p in pipelines.items():
                    if exporter in (p.get("receivers") or []) and nxt not in chain:
                        walk(start, chain + (nxt,), joins + (exporter,), procs, conditions)
            elif is_backend_exporter(exporter):
                paths.append(SpanPath(start, chain, joins, procs, exporter, conditions))

    for name, pipeline in pipelines.items():
        for rec in pipeline.get("receivers") or []:
            if rec in connectors or (receiver is not None and rec != receiver):
                continue
            walk(rec, (name,), (), (), ())
    return paths


def first_traces_receiver(config: _Config) -> str | None:
    """The receiver the harness sends to: the first one a traces pipeline lists (not a connector)."""
    connectors = set((config.body.get("connectors") or {}).keys())
    for pipeline in config.traces_pipelines().values():
        for rec in pipeline.get("receivers") or []:
            if rec not in connectors:
                return rec
    return None
