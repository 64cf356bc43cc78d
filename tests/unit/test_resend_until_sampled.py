"""How the suite asks for the spans of a component that samples on its own (the GAIE EPP at the
guide's production ratio): the ratio read from the rendered env, the bound on the resends, and
the resend loop on a fake sender."""
from __future__ import annotations

import random
from datetime import datetime, timezone

import pytest

from llmd_trace_e2e.deployment.sampling import root_ratio, tries_to_see_one
from llmd_trace_e2e.traffic.completions import Completion, TraceParent
from llmd_trace_e2e.traffic.resend import NeverSampled, send_until_sampled


@pytest.mark.parametrize("env, ratio", [
    ({"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}, 0.1),
    ({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.0"}, 1.0),
    ({"OTEL_TRACES_SAMPLER": "parentbased_traceidratio"}, 1.0),
    ({"OTEL_TRACES_SAMPLER": "always_off"}, 0.0),
    ({}, 1.0),
])
def test_root_ratio_follows_the_sdk_env(env, ratio):
    assert root_ratio(env) == ratio


def test_a_bad_sampler_is_named():
    with pytest.raises(ValueError, match="'sometimes'"):
        root_ratio({"OTEL_TRACES_SAMPLER": "sometimes"})
    with pytest.raises(ValueError, match="'a tenth'"):
        root_ratio({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "a tenth"})


def test_the_bound_makes_missing_one_as_rare_as_the_confidence():
    assert tries_to_see_one(1.0) == 1
    n = tries_to_see_one(0.1)
    assert n == 66 and 0.9 ** n <= 0.001 < 0.9 ** (n - 1)
    with pytest.raises(ValueError):
        tries_to_see_one(0.0)


class FakeSender:
    """Sends nothing: each "request" is sampled by the fake component with probability `ratio`."""

    def __init__(self, ratio: float, seed: int = 7):
        self.rng, self.ratio, self.sent, self.looks = random.Random(seed), ratio, [], 0

    def send(self) -> Completion:
        done = Completion("completion", TraceParent.new(), 200, f"cmpl-{len(self.sent)}", "",
                          datetime.now(timezone.utc), 0.1)
        self.sent.append((done, self.rng.random() < self.ratio))
        return done

    def first_sampled(self, batch):
        self.looks += 1
        sampled = {id(done) for done, yes in self.sent if yes}
        return next((done for done in batch if id(done) in sampled), None)


def test_resends_in_rounds_until_sampled():
    fake = FakeSender(0.1)
    got = send_until_sampled(fake.send, fake.first_sampled, 0.1, "the fake EPP")
    assert (got.completion, True) in fake.sent
    assert got.sent == len(fake.sent) and got.sent % 10 == 0  # whole rounds of 1/ratio
    assert fake.looks == got.sent // 10  # one wait for spans per round


def test_at_ratio_one_a_single_request_is_enough():
    fake = FakeSender(1.0)
    assert send_until_sampled(fake.send, fake.first_sampled, 1.0, "the fake EPP").sent == 1


def test_a_component_that_never_samples_is_named_after_the_bound():
    fake = FakeSender(0.0)
    with pytest.raises(NeverSampled, match="none of 66 requests was sampled by the fake EPP at sampler ratio 0.1"):
        send_until_sampled(fake.send, fake.first_sampled, 0.1, "the fake EPP")
    assert len(fake.sent) == 66


def test_ratio_zero_is_refused_before_sending():
    fake = FakeSender(0.0)
    with pytest.raises(NeverSampled, match="give it a ratio above 0"):
        send_until_sampled(fake.send, fake.first_sampled, 0.0, "the fake EPP")
    assert not fake.sent
