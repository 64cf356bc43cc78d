"""Which spans one request left, among all spans seen: those in the caller's trace, vLLM's
llm_request carrying its response id, and whole traces rooted during the request by a component
that ignored the caller's traceparent and started its own (the GAIE EPP). All processes share
one clock and the suite sends one request at a time, so "during" needs no slack; a `GET` root is
a scrape or a health check, never the request."""
from __future__ import annotations

from datetime import timedelta
from typing import Sequence

from llmd_trace_e2e.traces.model import Span


def spans_of_request(spans: Sequence[Span], completion) -> list[Span]:
    caller = completion.traceparent.trace_id
    begin = completion.started.timestamp()
    end = begin + completion.seconds
    joined = {s.service for s in spans if s.trace_id == caller}
    traces = {caller} | {s.trace_id for s in spans if completion.is_request_of(s)}
    traces |= {s.trace_id for s in spans
               if not s.parent_span_id and s.service not in joined and not s.name.startswith("GET ")
               and begin <= s.start_ns / 1e9 <= end}
    return [s for s in spans if s.trace_id in traces]


def root_during(spans: Sequence[Span], service: str, completion, name: str) -> Span | None:
    """`service`'s root span `name` started during `completion` (None: the request was not sampled there)."""
    begin = completion.started.timestamp()
    end = begin + completion.seconds
    return next((s for s in spans if s.service == service and s.name == name and not s.parent_span_id
                 and begin <= s.start_ns / 1e9 <= end), None)


def incomplete_sampled_traces(spans: Sequence[Span], completions, root: tuple[str, str], root_names: Sequence[str],
                              leaf_service: str) -> list[str]:
    """For requests sent without traceparent (the `root` (service, span name) decides whether to
    sample): what breaks "every sampled trace is complete": a sampled root trace without the root
    service's `root_names` or without the leaf's llm_request under it, or an llm_request whose
    root was not sampled (an orphan)."""
    service, name = root
    problems = []
    for done in completions:
        top = root_during(spans, service, done, name)
        llm = [s for s in spans if s.service == leaf_service and s.name == "llm_request" and done.is_request_of(s)]
        if top is None:
            problems += [f"{done.response_id}: llm_request (trace {s.trace_id}) without a sampled root" for s in llm]
            continue
        trace = [s for s in spans if s.trace_id == top.trace_id]
        missing = sorted(set(root_names) - {s.name for s in trace if s.service == service})
        if missing:
            problems.append(f"trace {top.trace_id}: {service}'s {', '.join(missing)} missing")
        ids = {s.span_id for s in trace}
        if not llm:
            problems.append(f"trace {top.trace_id}: sampled at the root, no llm_request for {done.response_id}")
        elif any(s.trace_id != top.trace_id or s.parent_span_id not in ids for s in llm):
            problems.append(f"trace {top.trace_id}: llm_request for {done.response_id} not under the root's trace")
    return problems


def request_spans_in_jaeger(traces, completion, slack_s: float = 5.0) -> list[Span]:
    """Every span of the request that reached the trace backend (`traces`: a TraceQuery): its
    caller's trace, and every service's traces from shortly before it, narrowed by spans_of_request."""
    since = completion.started - timedelta(seconds=slack_s)
    spans = list(traces.trace_spans(completion.traceparent.trace_id))
    for service in traces.services():
        spans += traces.find_spans(service, since)
    return spans_of_request(list({(s.trace_id, s.span_id): s for s in spans}.values()), completion)
