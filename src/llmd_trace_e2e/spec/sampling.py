"""What a sampler ratio predicts: how many of n independent root decisions come out sampled."""
from __future__ import annotations

from math import comb


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
