"""The suite's helpers: which service a component exports under (or a loud skip), sending traffic
that every hop traced, declaring the known gaps a test may meet, and making a fixture's failure
its tests' failure. Expecting spans is the platform's: platform.expect_spans(...)."""
from __future__ import annotations

import functools
import inspect
from datetime import timedelta
from typing import Any, Callable, TypeVar

import pytest

from llmd_trace_e2e.traffic import completions as traffic
from llmd_trace_e2e.traffic.resend import Sampled, send_until_sampled
from llmd_trace_e2e.platforms.abilities import SpanTap
from llmd_trace_e2e.platforms.base import expected_service
from llmd_trace_e2e.deployment.charts import epp_launch
from llmd_trace_e2e.deployment.profiles import known_gap_ids
from llmd_trace_e2e.deployment.releases import Status
from llmd_trace_e2e.deployment.sampling import root_ratio
from llmd_trace_e2e.deployment.values import deep_merge, nest
from llmd_trace_e2e.traces.assertions import Check, Failure
from llmd_trace_e2e.traces.request import root_during

EPP_ROOT_SPAN = "gateway.request"
EPP_IGNORES_TRACEPARENT = "epp-new-root-trace"  # the known gap: the EPP decides on its own
T = TypeVar("T")


def tracing_overlay(platform, block, charts=("epp", "modelservice")) -> dict:
    """`block` at each chart's tracing path for the run's profile, as one values overlay."""
    overlay: dict = {}
    for chart in charts:
        overlay = deep_merge(overlay, nest(platform.profile.values_schema[chart].path, block))
    return overlay


def service_or_skip(platform, component: str) -> str:
    """The service name a component exports under, or a loud skip saying why it cannot; a
    component found silent at the session's start (platform.silent) fails the test with why."""
    if not platform.profile.runs(component):
        pytest.skip(f"{component} does not run on the {platform.name} platform: "
                    f"{platform.profile.absent.get(component, 'not deployed')}")
    if component in platform.silent:
        pytest.fail(platform.silent[component], pytrace=False)
    service = expected_service(platform.baseline, platform.profile, component)
    if service is None:
        pytest.fail(f"the values leave {component}'s tracing off, so the suite cannot check it: "
                    "pass values with tracing enabled", pytrace=False)
    return service


def epp_root_ratio(platform) -> float:
    """The share of root traces the EPP samples under the values in effect, as its chart renders it."""
    return root_ratio(epp_launch(platform.values, platform.profile).env)


def send_traced_by_every_hop(platform, propagate: bool = True, **send_kw) -> Sampled:
    """A completion that every tracing component sampled, at any sampler ratio. A sampled
    traceparent is enough for the components that honour it; where the EPP decides on its own
    (no traceparent sent, or an EPP that ignores it) and samples below 1, the request is sent
    again until the EPP's root span shows it sampled one."""
    def send():
        return traffic.send(platform.gateway_url, platform.model, propagate=propagate, **send_kw)

    return resend_until_the_epp_samples(platform, send, propagate=propagate)


def resend_until_the_epp_samples(platform, send: Callable[[], T], *, propagate: bool,
                                  completion_of: Callable[[T], Any] = lambda sent: sent) -> Sampled[T]:
    """`send()` once where that is enough (a sampled traceparent every hop honours, or an EPP
    sampling every root), else again until the EPP sampled one, within the bound for its ratio.
    `propagate`: whether `send` puts the caller's sampled traceparent on the wire; `completion_of`
    finds the Completion in what `send` returns (an SDK call, an abandoned stream's record)."""
    epp = expected_service(platform.values, platform.profile, "epp") if platform.profile.runs("epp") else None
    decides_alone = not propagate or epp_may_ignore_traceparent(platform)
    ratio = epp_root_ratio(platform) if epp and decides_alone else 1.0
    if ratio >= 1.0:
        return Sampled(send(), 1)

    def first_sampled(batch):
        platform.settle(completion_of(batch[-1]))
        if isinstance(platform, SpanTap):
            spans = platform.unfiltered_spans()
        else:
            spans = platform.traces.find_spans(epp, completion_of(batch[0]).started - timedelta(seconds=1))
        return next((sent for sent in batch if root_during(spans, epp, completion_of(sent), EPP_ROOT_SPAN)), None)

    return send_until_sampled(send, first_sampled, ratio, f"the EPP ({epp})")


def declare_known_gap(request, platform, gap_id: str) -> None:
    """Turn a known upstream gap into a strict expected failure naming the upstream change, where
    the run's release has it; on a release with the fix, or of unknown version, the test runs as
    a plain check (the summary names the parts whose version was unknown)."""
    gap = platform.profile.gap(gap_id)
    if gap is not None:
        _mark(request, platform, gap)
    elif gap_id not in (known := known_gap_ids()):  # a misspelt id would silently make the test a plain check
        pytest.fail(f"no known gap {gap_id!r} in config/profiles.yaml: add it to the known_gaps of the profiles "
                    f"it applies to, or use one of {', '.join(sorted(known))}", pytrace=False)


def declare_known_gaps(request, platform, components, effects) -> None:
    """The same for every gap of these effects ("no-spans", "no-join") on these components."""
    for gap in platform.profile.gaps:
        if gap.effect in effects and any(gap.applies_to(c) for c in components):
            _mark(request, platform, gap)


def _mark(request, platform, gap) -> None:
    judgement = gap.judge(platform.profile.run)
    request.node.user_properties.append((f"known gap {gap.id}", f"{judgement.status.value}: {judgement.why}"))
    if judgement.status.expected_to_fail:
        reason = f"known gap {gap.id}: {gap.description} (upstream: {gap.upstream}; this run: {judgement.why})"
        request.applymarker(pytest.mark.xfail(reason=reason, strict=True))


def epp_may_ignore_traceparent(platform) -> bool:
    """Whether the run's EPP may start its own root trace (the known gap, or a release not known)."""
    judgement = platform.profile.judge(EPP_IGNORES_TRACEPARENT)
    return judgement is not None and judgement.status in (Status.APPLIES, Status.UNKNOWN)


def expect_spans_unless_gap(request, platform, wanted, checks: list[Check], what: str, *ended):
    """platform.expect_spans; but where a declared known gap has made the test a strict expected
    failure, the missing spans are proven missing by platform.settle(*ended) and one look, instead
    of waiting out the full timeout. Fixed upstream, the spans are there by then: the test passes,
    and strict xfail turns it red at once."""
    if request.node.get_closest_marker("xfail") is None:
        return platform.expect_spans(wanted, checks, what)
    platform.settle(*ended)
    return platform.expect_spans_now(wanted, checks, what)


class LlmRequestOf:
    """vLLM's llm_request span for one completion (present=True), or its absence."""

    def __init__(self, service: str, completion, present: bool = True):
        self.service, self.completion, self.present = service, completion, present
        self.description = (f"{'an' if present else 'no'} llm_request from {service} "
                            f"for response {completion.response_id}")

    def __call__(self, spans):
        hits = [s for s in spans if s.service == self.service and s.name == "llm_request"
                and self.completion.is_request_of(s)]
        if bool(hits) == self.present:
            return []
        return [Failure(self.description, "1" if self.present else "0", str(len(hits)))]


class Unprovided:
    """What a fixture gives its tests when it could not provide what they need: any use of it
    fails the test with the reason (a failure naming it, not an error in set-up)."""

    def __init__(self, reason: str):
        self._reason = reason

    def _fail(self, *_args, **_kwargs):
        pytest.fail(self._reason, pytrace=False)

    def __getattr__(self, name: str):
        if name.startswith("__"):  # protocols probed by pytest and the reports: not a use
            raise AttributeError(name)
        self._fail()

    __getitem__ = __iter__ = __call__ = _fail


def _unprovided(fixture, err: BaseException) -> Unprovided:
    detail = err.msg if isinstance(err, pytest.fail.Exception) else f"{type(err).__name__}: {err}"
    return Unprovided(f"fixture {fixture.__name__} could not provide what this test needs: {detail}")


def fails_its_tests(fixture):
    """Under @pytest.fixture: where the fixture fails (a failed check or request, a component
    found silent), each test that uses it fails with that reason instead of erroring in set-up."""
    if inspect.isgeneratorfunction(fixture):
        @functools.wraps(fixture)
        def generator(*args, **kwargs):
            steps = fixture(*args, **kwargs)
            try:
                value = next(steps)
            except (Exception, pytest.fail.Exception) as err:
                yield _unprovided(fixture, err)
                return
            yield value
            next(steps, None)  # its teardown
        return generator

    @functools.wraps(fixture)
    def plain(*args, **kwargs):
        try:
            return fixture(*args, **kwargs)
        except (Exception, pytest.fail.Exception) as err:
            return _unprovided(fixture, err)
    return plain
