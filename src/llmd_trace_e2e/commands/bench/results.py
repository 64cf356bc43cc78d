"""The typed results of each phase, as the renderers read them. `as_dict()` gives bench.json
(its keys are the field names; a phase that did not run is left out)."""
from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple, Sequence

from llmd_trace_e2e.commands.bench.stats import Summary


@dataclass(frozen=True)
class Machine:
    cores: int | None
    memory_gib: float
    memory_available_gib: float
    cpu_model: str
    kernel: str
    python: str
    go: str
    vllm: str
    load_average_1m: float


# --- verdict ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class VerdictRun:
    label: str
    first_request_s: float
    spans_visible_s: float  # response -> the harness's wait saw the joined trace
    report_s: float
    polls: int
    condition_held_after_s: float | None  # response -> the independent probe saw it
    trace_id: str = ""

    @property
    def total_s(self) -> float:
        return self.first_request_s + self.spans_visible_s + self.report_s

    @property
    def polling_lag_s(self) -> float | None:
        return None if self.condition_held_after_s is None else max(0.0, self.spans_visible_s - self.condition_held_after_s)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_s": self.total_s, "polling_lag_s": self.polling_lag_s}


@dataclass(frozen=True)
class MedianRun:
    """The median of each step over several verdict runs."""

    first_request_s: float | None
    spans_visible_s: float | None
    report_s: float | None
    condition_held_after_s: float | None
    polling_lag_s: float | None

    @classmethod
    def of(cls, runs: Sequence[VerdictRun]) -> "MedianRun":
        medians = {}
        for f in fields(cls):
            values = [getattr(r, f.name) for r in runs if getattr(r, f.name) is not None]
            medians[f.name] = statistics.median(values) if values else None
        return cls(**medians)

    def running_total_s(self, pytest_start_s: float) -> float:
        """A verdict against a running stack: pytest's start, then this median verdict run."""
        return pytest_start_s + sum(v or 0 for v in (self.first_request_s, self.spans_visible_s, self.report_s))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ToolsTiming:
    seconds: float
    output_tail: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class VerdictPhase:
    tools: ToolsTiming
    stack: dict[str, float]  # the platform's own timings: component -> seconds since start
    stack_s: float
    runs: list[VerdictRun]  # the cold run first, then the warm ones
    warm_median: MedianRun
    pytest_start_s: float
    fresh_total_s: float
    running_total_s: float

    def as_dict(self) -> dict[str, Any]:
        return {"tools": asdict(self.tools), "stack": dict(self.stack), "stack_s": self.stack_s,
                "runs": [r.as_dict() for r in self.runs], "warm_median": self.warm_median.as_dict(),
                "pytest_start_s": self.pytest_start_s, "fresh_total_s": self.fresh_total_s,
                "running_total_s": self.running_total_s}


# --- latency ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LatencyPhase:
    requests: int
    canaries: int
    interval_s: float
    poll_s: float
    polls: int
    missing: dict[str, int]  # "vllm" | "epp" | "canary" -> spans never found
    errors: list[str]
    epp_gateway_request: Summary
    vllm_llm_request: Summary
    collector_only_canary: Summary
    request_seconds: Summary

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- polling ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BarrierRun:
    waited_s: float  # canary exported -> the harness's wait returned
    in_wait_for_s: float
    polls: int
    needed_s: float  # canary exported -> the independent probe saw it
    lag_s: float


@dataclass
class PollingPhase:
    runs: list[BarrierRun]
    waited: Summary
    needed: Summary
    lag: Summary
    polls: Summary
    verdicts: list[VerdictRun] | None = None  # verdict runs with the same backoff (the tight variant)

    def as_dict(self) -> dict[str, Any]:
        out = {"runs": [asdict(r) for r in self.runs], "waited": self.waited.as_dict(),
               "needed": self.needed.as_dict(), "lag": self.lag.as_dict(), "polls": self.polls.as_dict()}
        if self.verdicts is not None:
            out["verdicts"] = [r.as_dict() for r in self.verdicts]
        return out


# --- overhead --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ServerResult:
    """One vLLM of the overhead phase; ratios are against the server with tracing off."""

    sampler: str
    service: str | None
    ready_s: float | None
    requests: int
    errors: int
    latency_median_s: float | None
    latency_p95_s: float | None
    throughput_rps: float | None
    latency_p90_s: float | None = None
    latency_p99_s: float | None = None
    latency_mean_s: float | None = None
    over_500ms: int | None = None
    burst_throughput_median_rps: float | None = None
    latency_median_ratio: float | None = None
    latency_p95_ratio: float | None = None
    throughput_ratio: float | None = None
    llm_request_spans_in_jaeger: int | None = None
    sent_total: int = 0


@dataclass(frozen=True)
class OverheadPhase:
    rounds: int
    concurrency: int
    burst: int
    max_tokens: int
    idle_servers_paused: bool
    load_seconds: float
    all_started_s: float
    servers: list[ServerResult]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- startup and speed (issue 14: a verdict in half the time) ------------------------------------

@dataclass(frozen=True)
class VllmStartRun:
    label: str
    as_before: bool  # True: no .pyc and an empty vLLM cache root, as every start was before issue 14
    ready_s: float | None  # start -> GET /health 200 (None: not ready in time)
    marks: dict[str, float]  # step -> seconds from the start to the log line that ends it

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SuiteRun:
    """One pytest run as a developer starts it, timed from outside."""

    what: str
    command: list[str]
    wall_s: float
    exit_code: int
    outcome: str  # pytest's last line
    stack: dict[str, float]  # the platform's own timings (component -> seconds since start), from summary.md

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SpeedPhase:
    before: dict[str, Any]  # the numbers measured before issue 14's changes (bench/speed.py BEFORE)
    vllm_starts: list[VllmStartRun]
    fresh: list[SuiteRun]  # fresh local verdicts, in the order run
    kept: list[SuiteRun]  # re-runs against a kept stack (llmd-trace-e2e local up, pytest --attach)
    make_test: SuiteRun | None
    cold_setup_s: dict[str, float | None]  # set-up step -> seconds (the new bytecode step as set-up recorded it)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"before": self.before, "vllm_starts": [r.as_dict() for r in self.vllm_starts],
                "fresh": [r.as_dict() for r in self.fresh], "kept": [r.as_dict() for r in self.kept],
                "make_test": self.make_test and self.make_test.as_dict(), "cold_setup_s": self.cold_setup_s,
                "notes": list(self.notes)}


# --- the whole run ---------------------------------------------------------------------------------

class Target(NamedTuple):
    name: str
    measured: str
    holds: str  # "yes", "**no**", "?"


@dataclass
class BenchResult:
    started: str
    folder: Path
    machine: Machine
    collector_batch_timeout_s: float | None
    notes: list[str] = field(default_factory=list)
    verdict: VerdictPhase | None = None
    latency: LatencyPhase | None = None
    polling: PollingPhase | None = None
    polling_tight: PollingPhase | None = None  # the same with the wait backoff capped lower
    overhead: OverheadPhase | None = None
    speed: SpeedPhase | None = None
    load_average_1m_at_end: float | None = None
    wall_s: float = 0.0
    targets: list[Target] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """bench.json: the phases that ran, in the order they ran."""
        out: dict[str, Any] = {"started": self.started, "folder": str(self.folder), "machine": asdict(self.machine),
                               "collector_batch_timeout_s": self.collector_batch_timeout_s, "notes": list(self.notes)}
        for name in ("verdict", "latency", "polling", "polling_tight", "overhead", "speed"):
            phase = getattr(self, name)
            if phase is not None:
                out[name] = phase.as_dict()
        out.update(load_average_1m_at_end=self.load_average_1m_at_end, wall_s=self.wall_s,
                   targets=[list(t) for t in self.targets])
        return out
