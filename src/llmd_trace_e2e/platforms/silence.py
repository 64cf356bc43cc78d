"""Components that export nothing at run time: their tracing is on, yet no span of theirs reaches
the collector (an endpoint where nothing listens, a crashed exporter). Found once, from the
session's first request that every component should have traced: after the slowest exporter's
batch delay and a barrier through the collector (platform.settle), a component with no
span for that request is silent. Every test that needs it then fails with that one reason at
once, instead of each waiting out its own timeout, and the tests that do not need it still run.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Callable, Mapping, Sequence
from urllib.parse import urlparse

from llmd_trace_e2e.platforms.base import expected_service
from llmd_trace_e2e.runtime.diagnose import consult
from llmd_trace_e2e.runtime.ports import is_listening
from llmd_trace_e2e.deployment.charts import Launch, epp_launch, localize, vllm_launch
from llmd_trace_e2e.traces.model import Span
from llmd_trace_e2e.platforms.abilities import SpanTap
from llmd_trace_e2e.traffic.completions import Completion

SINCE_SLACK = timedelta(seconds=1)  # clocks of the processes and the harness's, on one host
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Watched:
    component: str
    service: str  # the service.name its spans carry under the values in effect
    names: tuple[str, ...]  # span names one traced request gives it (any one will do)


def watched(platform) -> list[Watched]:
    """The components whose spans the first request must bring: those that run, whose values turn
    their tracing on, and that the profile expects spans from (no known gap of the run's releases
    says they export none)."""
    profile = platform.profile
    out = []
    for component in ("epp", "routing-proxy", "vllm-decode"):
        names = tuple(profile.spans.get(component) or ())
        if not profile.runs(component) or not names:
            continue
        if any(gap.effect == "no-spans" and profile.applies(gap) for gap in profile.gaps_for(component)):
            continue  # a known gap of the run's release: its own tests expect the silence
        service = expected_service(platform.values, profile, component)
        if service:
            out.append(Watched(component, service, names))
    server = profile.gateway_spans.get("server")
    if platform.gateway_service and server:
        out.append(Watched("gateway", platform.gateway_service, (server,)))
    return out


def _launch(platform, component: str) -> Launch | None:
    if component == "epp":
        launch = epp_launch(platform.values, platform.profile)
    elif component.startswith("vllm-"):
        launch = vllm_launch(platform.values, platform.profile, component.removeprefix("vllm-"))
    else:
        return None
    # locally, in-cluster addresses become the run's collector, as the process got them
    return localize(launch, platform.collector_otlp_grpc) if platform.name == "local" else launch


def exporter_endpoint(launch: Launch) -> tuple[str, str] | None:
    """(endpoint, where it is set) of a launch's span exporter."""
    if "--otlp-traces-endpoint" in launch.args:
        return launch.args[launch.args.index("--otlp-traces-endpoint") + 1], "--otlp-traces-endpoint"
    for name in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        if name in launch.env:
            return launch.env[name], name
    return None


def _where_it_sends(platform, component: str) -> str:
    launch = _launch(platform, component)
    found = exporter_endpoint(launch) if launch is not None else None
    if found is None:
        return ""
    endpoint, flag = found
    text = f"; its exporter sends to {endpoint} ({flag})"
    url = urlparse(endpoint if "://" in endpoint else f"grpc://{endpoint}")
    if platform.name == "local" and url.hostname in LOCAL_HOSTS and url.port:
        if not is_listening(url.port, url.hostname if url.hostname != "localhost" else "127.0.0.1"):
            text += ", where nothing listens"
        elif endpoint.rstrip("/") != platform.collector_otlp_grpc.rstrip("/"):
            text += f", not the run's collector ({platform.collector_otlp_grpc})"
    return text


def _its_log(platform, component: str) -> str:
    """The first complaint the platform's diagnosis has about this component (locally, its
    process of the same name), on one line."""
    for finding in consult(platform.diagnosis()):
        if finding.component == component:
            evidence = f": {finding.evidence[-1]}" if finding.evidence else ""
            return f"; {finding.summary}{evidence}"
    return ""


def silence_reason(platform, watch: Watched, completion: Completion) -> str:
    """One line: which component, what was expected of it, where its exporter sends, what its log says."""
    return (f"{watch.component} exports nothing: its tracing is on (service {watch.service}), yet none of its spans "
            f"({', '.join(watch.names)}) for the session's first request (trace {completion.traceparent.trace_id}) "
            f"reached the collector within its batch delay ({platform.export_batch_delay_s:g} s) and a barrier"
            + _where_it_sends(platform, watch.component) + _its_log(platform, watch.component))


def spans_since(platform, services: Sequence[str], completion: Completion) -> list[Span]:
    """Every span of these services that started with or after the completion: the collector's
    unfiltered tap where the platform has one (what reached the collector), else Jaeger."""
    since = completion.started - SINCE_SLACK
    if isinstance(platform, SpanTap):
        return [s for s in platform.unfiltered_spans()
                if s.service in services and s.start_ns / 1e9 >= since.timestamp()]
    return [s for service in services for s in platform.traces.find_spans(service, since)]


def find_silent(platform, completion: Completion, watching: Sequence[Watched] | None = None,
                settled: Callable[..., object] = lambda platform, done: platform.settle(done),
                ) -> Mapping[str, str]:
    """component -> why it is silent, for each watched component with no span for `completion`
    (sent with the values in effect, a sampled traceparent, and sampled by every component)."""
    watching = list(watched(platform) if watching is None else watching)
    if not watching:
        return {}
    settled(platform, completion)
    spans = spans_since(platform, [w.service for w in watching], completion)
    return {w.component: silence_reason(platform, w, completion) for w in watching
            if not any(s.service == w.service and s.name in w.names for s in spans)}
