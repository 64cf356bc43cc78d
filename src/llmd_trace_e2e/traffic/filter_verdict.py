"""Canaries through a running collector, and the verdict on its filter: which noise canaries
got through (by group: the guide's six /metrics patterns, then the noise beyond them) and on
which paths of the config, which ordinary spans it dropped. The e2e suite gets it from the run's
own collector; `verify-collector-config` (commands/verify.py) runs a user's config for real to get it.
It lives beside the canaries it sends (traffic/), not in traces/: it reads the config's paths
(deployment/), which traces/ sits below.

The verdict waits for the control spans on EVERY path to the backend (one stored copy per path,
sent in the same request after the noise), so it is the same every run, whatever order the
pipelines are written in."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from llmd_trace_e2e.traffic.canaries import (
    CONTROL_CANARIES, GUIDE, HEALTH, NOISE_CANARIES, SCRAPE_CHILDREN, Canary, SentCanary, metrics_canaries,
    path_copies, predicted_leaks, send_canaries)
from llmd_trace_e2e.deployment.collector_config import CollectorConfig
from llmd_trace_e2e.deployment.collector_paths import SpanPath, backend_paths, first_traces_receiver
from llmd_trace_e2e.runtime.errors import ConfigError, WaitTimeout
from llmd_trace_e2e.deployment.profiles import Profile
from llmd_trace_e2e.traces.query import TraceQuery
from llmd_trace_e2e.traces.patterns import SpanPattern
from llmd_trace_e2e.traces.render import markdown_table
from llmd_trace_e2e.runtime.waits import Pending, wait_for

BEYOND_THE_GUIDE = (SCRAPE_CHILDREN, HEALTH)
FIX = "config/collector/guide-with-fixes.yaml"


@dataclass(frozen=True)
class CanaryOutcome:
    sent: SentCanary
    copies: int  # stored in the backend: one per path that let it through
    expected: int = 1  # paths to the backend: the copies of a control that every path kept

    @property
    def arrived(self) -> bool:
        return self.copies > 0

    @property
    def ok(self) -> bool:
        return not self.arrived if self.sent.canary.must_drop else self.copies >= self.expected

    def describe(self) -> str:
        c = self.sent.canary
        return f"{c.label}: canary {c.shape}, trace {self.sent.trace_id}"


class FilterVerdictError(AssertionError):
    """The collector's filter let noise through, or dropped a span the suite needs."""


@dataclass(frozen=True)
class VerifyReport:
    source: str
    outcomes: tuple[CanaryOutcome, ...]
    paths: tuple[SpanPath, ...] | None = None  # the config's paths from the harness's receiver to a backend
    notes: tuple[str, ...] = ()  # what running it here changed (collector_adapt.py)

    def leaked(self, group: str = GUIDE) -> list[CanaryOutcome]:
        return [o for o in self.outcomes if o.sent.canary.must_drop and o.sent.canary.group == group and o.arrived]

    def lost(self) -> list[CanaryOutcome]:
        """Controls (ordinary spans) that did not reach the backend on every path."""
        return [o for o in self.outcomes if not o.sent.canary.must_drop and not o.ok]

    @property
    def settled(self) -> bool:
        """A control, sent in the same request after every noise canary, arrived on every path:
        the noise has been through each path too, so a noise canary's absence means dropped."""
        return any(o.ok for o in self.outcomes if not o.sent.canary.must_drop)

    def unfiltered_paths(self) -> list[SpanPath]:
        return [p for p in self.paths or () if not p.filtered]

    def leak_paths(self, canary: Canary) -> list[SpanPath]:
        """The paths whose filter conditions, as the harness evaluates them, all miss `canary`
        (every path, when it cannot evaluate them)."""
        found = []
        for path in self.paths or ():
            try:
                patterns = path.patterns()
            except ConfigError:
                patterns = []
            if not any(p.matches_shape(canary.name, canary.attributes) for p in patterns):
                found.append(path)
        return found

    def path_lines(self) -> list[str]:
        """Each path that carries spans past no filter, by name (pipelines in order)."""
        return [f"unfiltered path: {p.describe()} carries spans past no filter"
                + (f" (only sampling: {', '.join(p.samplers)})" if p.samplers else "")
                for p in self.unfiltered_paths()]

    @property
    def passed(self) -> bool:
        """The guide's six patterns dropped and every control kept (gaps beyond the guide are reported apart)."""
        return self.settled and not self.leaked(GUIDE) and not self.lost()

    def gaps(self) -> dict[str, list[CanaryOutcome]]:
        return {g: leaks for g in BEYOND_THE_GUIDE if (leaks := self.leaked(g))}

    def table(self) -> str:
        rows = []
        for o in self.outcomes:
            c = o.sent.canary
            verdict = "ok" if o.ok else ("gap" if c.group in BEYOND_THE_GUIDE else "FAIL")
            outcome = "dropped" if not o.arrived else (
                "kept" if c.must_drop or o.copies >= o.expected else f"kept on {o.copies} of {o.expected} paths")
            rows.append((c.group or "ordinary span", c.label, f"`{c.name}`", "dropped" if c.must_drop else "kept",
                         outcome, verdict))
        return markdown_table(("noise", "pattern", "span", "expected", "outcome", "verdict"), rows)

    def verdict(self) -> list[str]:
        """The lines `verify-collector-config` ends with."""
        lines = []
        if self.passed:
            lines.append("verdict: PASS: every canary of the guide's /metrics patterns was dropped and every "
                         f"ordinary span arrived, on each path to the backend ({len(self.paths or ()) or 1})")
        elif self.paths == ():
            lines.append("verdict: FAIL: no traces pipeline of the config ends at a backend exporter (otlp, "
                         "otlphttp): nothing it receives reaches a tracing backend")
        elif not self.settled:
            lines.append("verdict: FAIL: no ordinary span reached the backend on every path, so nothing can be "
                         f"concluded ({self._copies_seen()}; see the collector's log)")
        elif self.leaked(GUIDE):
            lines.append(f"verdict: FAIL: /metrics spans got through: {', '.join(_labels(self.leaked(GUIDE)))}")
            lines += [f"  on {p.describe()}: {_path_gap(p)}"
                      for p in self.paths or () if any(p in self.leak_paths(o.sent.canary) for o in self.leaked(GUIDE))]
        else:
            lines.append(f"verdict: FAIL: ordinary spans were dropped: {', '.join(_labels(self.lost()))}")
        lines += self.path_lines()
        for group, leaks in self.gaps().items():
            lines.append(f"gap: {group} got through: {', '.join(_labels(leaks))} "
                         f"({FIX} has the conditions that drop them)")
        return lines

    def _copies_seen(self) -> str:
        controls = [o for o in self.outcomes if not o.sent.canary.must_drop]
        expected = controls[0].expected if controls else 1
        return (f"{len(self.paths or ()) or 1} path(s) to the backend; control copies stored: "
                + ", ".join(f"{o.copies}/{expected}" for o in controls))


def _labels(outcomes: Sequence[CanaryOutcome]) -> list[str]:
    return [o.sent.canary.label for o in outcomes]


def _path_gap(path: SpanPath) -> str:
    if not path.filtered:
        return "no filter on this path" + (f" (only sampling: {', '.join(path.samplers)})" if path.samplers else "")
    try:
        missing = [c.condition for c in predicted_leaks(path.patterns(), metrics_canaries())]
    except ConfigError:
        return "its filter lets them through"
    return f"its filter lacks {', '.join(missing)}" if missing else "its filter lets them through"


def check_canaries(otlp_grpc_endpoint: str, traces: TraceQuery, canaries: Sequence[Canary] | None = None,
                   timeout_s: float = 30.0, copies: int = 1) -> tuple[CanaryOutcome, ...]:
    """Send the noise canaries (default: the guide's six), then the controls, in one request;
    once every control is in Jaeger `copies` times (one per path to the backend), the canaries
    sent before them have been through every path too, so absence means dropped."""
    noise = list(metrics_canaries() if canaries is None else canaries)
    sent = send_canaries(otlp_grpc_endpoint, noise + list(CONTROL_CANARIES))
    controls = [s for s in sent if not s.canary.must_drop]

    def controls_arrived():
        short = [f"{s.canary.label} ({n}/{copies})" for s in controls if (n := traces.stored_copies(s.trace_id)) < copies]
        return True if not short else Pending(f"control spans not yet in Jaeger on every path: {', '.join(short)}")

    try:
        wait_for(f"the control spans to reach Jaeger on every path ({copies})", controls_arrived, timeout_s)
    except WaitTimeout:
        pass  # reported as controls that did not arrive on every path
    return tuple(CanaryOutcome(s, traces.stored_copies(s.trace_id), copies) for s in sent)


def canary_report(otlp_grpc_endpoint: str, traces: TraceQuery, config: CollectorConfig,
                  canaries: Sequence[Canary] = NOISE_CANARIES, notes: Sequence[str] = ()) -> VerifyReport:
    """Every noise canary and control through a running collector that runs `config`."""
    paths = tuple(backend_paths(config, first_traces_receiver(config)))
    # no path to a backend exporter: nothing can arrive, so no waiting for it
    outcomes = check_canaries(otlp_grpc_endpoint, traces, canaries, timeout_s=30.0 if paths else 0.0,
                              copies=path_copies(config))
    return VerifyReport(config.source, outcomes, paths, tuple(notes))


def assert_noise_dropped(report: VerifyReport, group: str, logs_hint: str = "") -> None:
    """Fail naming each canary of `group` that reached the backend, with the condition that drops it."""
    where = f" (logs: {logs_hint})" if logs_hint else ""
    if not report.settled:
        raise FilterVerdictError(
            f"no ordinary span sent through the collector ({report.source}) reached the backend, so the "
            f"absence of noise proves nothing: the pipeline is broken{where}")
    leaks = report.leaked(group)
    if leaks:
        total = sum(1 for o in report.outcomes if o.sent.canary.group == group)
        lines = [f"the collector ({report.source}) let {len(leaks)} of {total} canaries of {group} through "
                 f"to the backend{where}:"]
        lines += [f"  - {o.describe()}; the condition that drops it: {o.sent.canary.condition}"
                  + _on_paths(report.leak_paths(o.sent.canary)) for o in leaks]
        lines += [f"  {line}" for line in report.path_lines()]
        raise FilterVerdictError("\n".join(lines))


def assert_controls_kept(report: VerifyReport, patterns: Sequence[SpanPattern] = (), logs_hint: str = "") -> None:
    """Fail naming each ordinary span the collector dropped (and the conditions that match it)."""
    lost = report.lost()
    if lost:
        lines = [f"the collector ({report.source}) dropped {len(lost)} span(s) the suite needs"
                 + (f" (logs: {logs_hint})" if logs_hint else "") + ":"]
        for o in lost:
            c = o.sent.canary
            hits = [p.condition for p in patterns if p.matches_shape(c.name, c.attributes)]
            lines.append(f"  - {o.describe()}; " + (f"it matches {', '.join(hits)}" if hits else
                                                    "no condition matches it as the harness reads them: "
                                                    "is the pipeline dropping spans?"))
        raise FilterVerdictError("\n".join(lines))


def _on_paths(paths: Sequence[SpanPath]) -> str:
    return f"; through {'; '.join(p.describe() for p in paths)}" if paths else ""


# The known gap (config/profiles.yaml) of each kind of noise beyond the guide's six patterns.
NOISE_GAPS = {SCRAPE_CHILDREN: "guide-filter-leaks-scrape-children", HEALTH: "guide-filter-keeps-health-checks"}


def leaks_on_any_path(path_patterns: Sequence[Sequence[SpanPattern]], canaries: Sequence[Canary]) -> list[Canary]:
    """The canaries that some path's conditions all miss: such a span reaches the backend."""
    leaking = {c.label for patterns in path_patterns for c in predicted_leaks(patterns, canaries)}
    return [c for c in canaries if c.label in leaking]


def noise_gap_reason(profile: Profile, path_patterns: Sequence[Sequence[SpanPattern]] | None,
                     group: str) -> str | None:
    """The known gap's reason when the run's filter conditions leave this noise through on some
    path to the backend, judged by evaluating them against the canaries' shapes (whatever the
    conditions, not only the guide's list). None when they drop it all, when the profile lists no
    such gap, or when the conditions are beyond the harness's evaluator (None): the check then stands."""
    gap = profile.gap(NOISE_GAPS[group])
    group_canaries = [c for c in NOISE_CANARIES if c.group == group]
    leaks = leaks_on_any_path(path_patterns, group_canaries) if path_patterns is not None else []
    if gap is None or not leaks:
        return None
    return f"{gap.reason}. This run's filter lacks: {', '.join(c.condition for c in leaks)}"
