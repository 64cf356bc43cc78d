"""What a sampler ratio predicts: how many of n independent root decisions come out sampled,
and how many tries it takes to see one sampled."""
from __future__ import annotations

from math import ceil, comb, log
from typing import Mapping

# OTEL_TRACES_SAMPLER values (the OpenTelemetry SDK's environment spec) -> the ratio of a root decision.
_FIXED_ROOT_RATIO = {"always_on": 1.0, "always_off": 0.0, "parentbased_always_on": 1.0,
                     "parentbased_always_off": 0.0}


def binomial_bounds(n: int, ratio: float, confidence: float = 0.999) -> tuple[int, int]:
    """The smallest range of counts [lo, hi] with at most (1 - confidence) / 2 of Binomial(n, ratio)'s
    probability below lo and at most as much above hi."""
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"a sampler ratio is between 0 and 1, not {ratio}")
    tail = (1.0 - confidence) / 2
    pmf = [comb(n, k) * ratio ** k * (1.0 - ratio) ** (n - k) for k in range(n + 1)]

    def first_beyond_tail(order):
        mass = 0.0
        for k in order:
            mass += pmf[k]
            if mass > tail:
                return k
        return order[-1]

    return first_beyond_tail(range(n + 1)), first_beyond_tail(range(n, -1, -1))


def root_ratio(env: Mapping[str, str]) -> float:
    """The share of root traces a process samples, from its OTEL_TRACES_SAMPLER(_ARG) env (SDK
    defaults: parentbased_always_on; a ratio sampler without an arg samples everything)."""
    sampler = env.get("OTEL_TRACES_SAMPLER", "parentbased_always_on")
    if sampler in _FIXED_ROOT_RATIO:
        return _FIXED_ROOT_RATIO[sampler]
    if sampler not in ("traceidratio", "parentbased_traceidratio"):
        raise ValueError(f"unknown OTEL_TRACES_SAMPLER {sampler!r}")
    arg = env.get("OTEL_TRACES_SAMPLER_ARG", "1.0")
    try:
        ratio = float(arg)
    except ValueError:
        raise ValueError(f"OTEL_TRACES_SAMPLER_ARG {arg!r} is not a number") from None
    return min(1.0, max(0.0, ratio))


def tries_to_see_one(ratio: float, confidence: float = 0.999) -> int:
    """How many independent root decisions at `ratio` hold at least one sampled, `confidence` of the time."""
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"at sampler ratio {ratio} no decision is ever sampled")
    return 1 if ratio == 1.0 else ceil(log(1.0 - confidence) / log(1.0 - ratio))
