"""Asking for the spans of a component that samples on its own. A sampled traceparent makes
every component that honours it trace the request; one that starts its own root trace (the GAIE
EPP) samples at its own ratio, so the request is sent again until that component has sampled
one, at most as many times as makes missing it as unlikely as the confidence allows."""
from __future__ import annotations

from dataclasses import dataclass
from math import ceil
from typing import Callable, Generic, Sequence, TypeVar

from llmd_trace_e2e.runtime.errors import HarnessError
from llmd_trace_e2e.deployment.sampling import tries_to_see_one
T = TypeVar("T")  # what one send returns: a Completion, an SDK call, ...


@dataclass(frozen=True)
class Sampled(Generic[T]):
    completion: T  # the first request the component sampled
    sent: int  # requests sent to find it


class NeverSampled(HarnessError):
    pass


def send_until_sampled(send: Callable[[], T], first_sampled: Callable[[Sequence[T]], T | None],
                       ratio: float, who: str, confidence: float = 0.999) -> Sampled[T]:
    """`first_sampled(batch)` waits for the batch's spans and returns the first request `who`
    sampled, or None. Requests go in rounds of 1/ratio (one expected sampled each), so that
    the wait for spans is paid once per round, not per request."""
    if ratio <= 0.0:
        raise NeverSampled(f"{who} samples no root trace (sampler ratio {ratio:g}): its spans cannot be checked; "
                           "give it a ratio above 0 in the values")
    bound = tries_to_see_one(ratio, confidence)
    per_round = min(bound, ceil(1.0 / ratio))
    sent = 0
    while sent < bound:
        batch = [send() for _ in range(min(per_round, bound - sent))]
        sent += len(batch)
        hit = first_sampled(batch)
        if hit is not None:
            return Sampled(hit, sent)
    raise NeverSampled(f"none of {sent} requests was sampled by {who} at sampler ratio {ratio:g} "
                       f"(at that ratio, {1 - confidence:.1%} of runs would see this): is its sampler what the values say?")
