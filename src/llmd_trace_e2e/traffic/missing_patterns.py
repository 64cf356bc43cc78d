"""A missing /metrics pattern told apart from a real leak.

A canary that got through shows the config lacks one of the guide's six patterns. Whether that
matters for this run is what the run's own components did: a span of theirs that matched the
missing pattern and reached the backend is a real leak; a missing pattern no span matched (or
whose matching spans another condition dropped) is a gap of the config, which a profile may know
(`conditions` of a known gap, config/profiles.yaml)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from llmd_trace_e2e.deployment.profiles import Gap, Profile
from llmd_trace_e2e.traces.model import Span
from llmd_trace_e2e.traces.patterns import SpanPattern
from llmd_trace_e2e.traffic.canaries import GUIDE
from llmd_trace_e2e.traffic.filter_verdict import VerifyReport


@dataclass(frozen=True)
class MissingPattern:
    pattern: SpanPattern
    produced: int | None  # spans of the run's components that matched it before the filter (None: no tap)
    leaked: tuple[Span, ...]  # those that matched it in the backend

    def describe(self) -> str:
        if self.leaked:
            names = ", ".join(sorted({f"{s.service}:{s.name}" for s in self.leaked}))
            return (f"{self.pattern.condition}: REAL LEAK: {len(self.leaked)} span(s) of this run's components "
                    f"matched it and reached the backend ({names})")
        if self.produced is None:
            return f"{self.pattern.condition}: no span of this run's components that matched it reached the backend"
        if self.produced:
            return (f"{self.pattern.condition}: {self.produced} span(s) of this run's components matched it before "
                    "the filter, none reached the backend (another condition dropped them)")
        return f"{self.pattern.condition}: no span of this run's components matched it"


def missing_patterns(report: VerifyReport, tapped: Sequence[Span] | None,
                     stored: Sequence[Span]) -> list[MissingPattern]:
    """For each of the guide's patterns whose canary got through: what the run's components'
    spans did (`tapped`: before the filter, None where the platform cannot see that; `stored`:
    what the backend holds)."""
    found = []
    for outcome in report.leaked(GUIDE):
        pattern = SpanPattern.parse(outcome.sent.canary.condition)
        produced = None if tapped is None else sum(1 for s in tapped if pattern.matches(s))
        found.append(MissingPattern(pattern, produced, tuple(s for s in stored if pattern.matches(s))))
    return found


def known_config_gap(profile: Profile, missing: Sequence[MissingPattern]) -> Gap | None:
    """The profile's known gap that covers every missing pattern (and applies to the releases
    this run runs), when none is a real leak."""
    if not missing or any(m.leaked for m in missing):
        return None
    conditions = {m.pattern.condition for m in missing}
    return next((g for g in profile.gaps
                 if g.conditions and conditions <= set(g.conditions) and profile.applies(g)), None)
