"""What only some platforms can do, each a small interface of its own. A platform has an ability
when it implements the method; ask with isinstance (the protocols are runtime-checkable), or in
a test, through the fixture of the same name (pytest_llmd_trace.plugin), which skips loudly
where the platform lacks it."""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from llmd_trace_e2e.traces.model import Span


@runtime_checkable
class SpanTap(Protocol):
    """Spans as they reached the collector, before its filter (local: the collector's file tap)."""

    def unfiltered_spans(self) -> list[Span]: ...


@runtime_checkable
class FilterCounter(Protocol):
    """The collector's own count of the spans its filter dropped (local: its telemetry)."""

    def filtered_span_count(self) -> float: ...


@runtime_checkable
class ModelServers(Protocol):
    """Each model server of the pool, reachable from the suite (local): pod name -> host:port."""

    @property
    def model_servers(self) -> dict[str, str]: ...


@runtime_checkable
class Pods(Protocol):
    """The running containers as the cluster has them (kind)."""

    def containers(self) -> list[Any]: ...


def lacks(platform, ability: type, what: str) -> str:
    """One line for a skip: which platform lacks which ability."""
    return f"the {platform.name} platform has no {ability.__name__} ({what})"
