"""Span assertions, the library's public face.

A check looks at the spans seen and returns its failures as data (check, expected, actual).
`expect` polls until every check passes or its timeout runs out, then fails with what did
arrive (a tree per trace, an inventory per service), what was expected, why it may not have
arrived (the diagnosis the caller passes, the platform's own: dead components, export errors,
lost spans, crash-looping pods) and where logs are.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

from llmd_trace_e2e.runtime import diagnose
from llmd_trace_e2e.runtime.waits import Pending, wait_for
from llmd_trace_e2e.runtime.errors import WaitTimeout
from llmd_trace_e2e.traces.model import Span, group_traces
from llmd_trace_e2e.traces.patterns import GUIDE_PATTERNS, SpanPattern, matching_patterns
from llmd_trace_e2e.traces.render import markdown_table, render_inventory, render_traces


@dataclass(frozen=True)
class Failure:
    check: str
    expected: str
    actual: str


class Check(Protocol):
    description: str

    def __call__(self, spans: Sequence[Span]) -> list[Failure]: ...


class TraceAssertionError(AssertionError):
    def __init__(self, message: str, failures: Sequence[Failure], spans: Sequence[Span]):
        super().__init__(message)
        self.failures, self.spans = list(failures), list(spans)


@dataclass(frozen=True)
class SpansExist:
    service: str
    name: str | None = None

    @property
    def description(self) -> str:
        return f"a span from {self.service}" + (f" named {self.name!r}" if self.name else "")

    def __call__(self, spans: Sequence[Span]) -> list[Failure]:
        mine = [s for s in spans if s.service == self.service]
        if self.name is None:
            return [] if mine else [Failure(self.description, "at least 1", "0")]
        if any(s.name == self.name for s in mine):
            return []
        seen = sorted({s.name for s in mine}) or ["none"]
        return [Failure(self.description, "at least 1", f"0 (its spans: {', '.join(seen)})")]


@dataclass(frozen=True)
class NoSpansFrom:
    service: str

    @property
    def description(self) -> str:
        return f"no span from {self.service}"

    def __call__(self, spans: Sequence[Span]) -> list[Failure]:
        mine = sorted({s.name for s in spans if s.service == self.service})
        return [Failure(self.description, "0", f"{len(mine)} name(s): {', '.join(mine)}")] if mine else []


@dataclass(frozen=True)
class JoinedInOneTrace:
    """Every listed (service, span name) is in trace `trace_id`; with `chain`, each is an
    ancestor of the next; every span's parent is in the trace, except those parented to
    `external_parent` (the client's own span id from its traceparent)."""

    trace_id: str
    members: tuple[tuple[str, str], ...]
    chain: bool = True
    external_parent: str | None = None

    @property
    def description(self) -> str:
        arrow = " -> " if self.chain else ", "
        return f"in trace {self.trace_id}: " + arrow.join(f"{s}:{n}" for s, n in self.members)

    def __call__(self, spans: Sequence[Span]) -> list[Failure]:
        trace = next((t for t in group_traces(spans) if t.trace_id == self.trace_id), None)
        if trace is None:
            return [Failure(self.description, f"trace {self.trace_id}", "no span with that trace id")]
        failures = []
        found: list[Span | None] = []
        for service, name in self.members:
            span = next((s for s in trace.spans if s.service == service and s.name == name), None)
            found.append(span)
            if span is None:
                elsewhere = sorted({s.trace_id for s in spans if s.service == service and s.name == name})
                where = f"in other trace(s) {', '.join(elsewhere)}" if elsewhere else "nowhere"
                failures.append(Failure(f"{service}:{name} in the trace", "present", f"absent; found {where}"))
        if self.chain:
            for upper, lower, (us, un), (ls, ln) in zip(found, found[1:], self.members, self.members[1:]):
                if upper and lower and upper not in trace.ancestors(lower):
                    parent = trace.by_id().get(lower.parent_span_id or "")
                    actual = f"{ls}:{ln}'s parent is {parent.service}:{parent.name}" if parent else \
                        f"{ls}:{ln}'s parent {lower.parent_span_id} is not in the trace"
                    failures.append(Failure(f"{us}:{un} is an ancestor of {ls}:{ln}", "yes", actual))
        ids = trace.by_id()
        for span in trace.spans:
            if span.parent_span_id and span.parent_span_id not in ids and span.parent_span_id != self.external_parent:
                failures.append(Failure("parent links hold together",
                                        f"{span.service}:{span.name}'s parent in the trace",
                                        f"parent {span.parent_span_id} missing"))
        return failures


@dataclass(frozen=True)
class ChildOfCaller:
    """In trace `trace_id`, `child` (service, name) hangs directly under a span of `caller` (the
    component whose outbound call it answers), and `caller_root` is that span or its ancestor."""

    trace_id: str
    child: tuple[str, str]
    caller: str
    caller_root: str

    @property
    def description(self) -> str:
        return (f"in trace {self.trace_id}: {self.child[0]}:{self.child[1]}'s parent is a {self.caller} span "
                f"under {self.caller}:{self.caller_root}")

    def __call__(self, spans: Sequence[Span]) -> list[Failure]:
        trace = next((t for t in group_traces(spans) if t.trace_id == self.trace_id), None)
        child = trace and next((s for s in trace.spans if (s.service, s.name) == self.child), None)
        if child is None:
            return [Failure(self.description, f"{self.child[0]}:{self.child[1]} in the trace", "absent")]
        parent = trace.by_id().get(child.parent_span_id or "")
        if parent is None:
            return [Failure(self.description, f"a {self.caller} span",
                            f"parent {child.parent_span_id or '(none)'} is not in the trace")]
        if parent.service != self.caller:
            return [Failure(self.description, f"a {self.caller} span", f"{parent.service}:{parent.name}")]
        if not any(s.name == self.caller_root and s.service == self.caller for s in (parent, *trace.ancestors(parent))):
            return [Failure(self.description, f"{self.caller}:{self.caller_root} at or above {parent.name}",
                            f"{parent.name}'s ancestors: {', '.join(f'{a.service}:{a.name}' for a in trace.ancestors(parent))}")]
        return []


@dataclass(frozen=True)
class EverySpan:
    """A check of every span: `problem(span)` says what is wrong with one span (None: nothing).
    On no span it fails, for a check over no span proves nothing: it is its own positive control."""

    description: str
    problem: Callable[[Span], str | None]
    expected: str = "every span"

    def __call__(self, spans: Sequence[Span]) -> list[Failure]:
        if not spans:
            return [Failure(self.description, "at least one span to check",
                            "none: the spans this check is about never arrived (fetch them, or wait for them first)")]
        return [Failure(self.description, self.expected, f"{s.service}:{s.name} (trace {s.trace_id}) {why}")
                for s in spans if (why := self.problem(s))]


@dataclass(frozen=True)
class NoMetricsSpans:
    """Of every span (at least one): it matches none of the /metrics patterns."""

    patterns: tuple[SpanPattern, ...] = GUIDE_PATTERNS
    description = "no span matches a /metrics pattern"

    def _matches(self, span: Span) -> str | None:
        hits = matching_patterns(span, self.patterns)
        return "matches " + "; ".join(p.label for p in hits) if hits else None

    def __call__(self, spans: Sequence[Span]) -> list[Failure]:
        return EverySpan(self.description, self._matches, "0 matches")(spans)


def evaluate(checks: Sequence[Check], spans: Sequence[Span]) -> list[Failure]:
    return [f for check in checks for f in check(spans)]


def explain(failures: Sequence[Failure], spans: Sequence[Span], *, context: str = "",
            logs_hint: str = "", diagnosis: diagnose.Diagnosis | None = None) -> str:
    parts = [context or "trace expectations not met", "",
             "what was expected and what was seen:",
             markdown_table(("check", "expected", "actual"), ((f.check, f.expected, f.actual) for f in failures)),
             "", "spans that arrived, per service:", render_inventory(spans),
             "", "traces:", render_traces(spans)]
    found = diagnose.report(diagnosis)
    if found:
        parts += ["", "diagnosis:", found]
    if logs_hint:
        parts += ["", f"logs and artifacts: {logs_hint}"]
    return "\n".join(parts)


def expect(fetch: Callable[[], Sequence[Span]], checks: Sequence[Check], timeout_s: float, *,
           context: str = "", logs_hint: str = "", diagnosis: diagnose.Diagnosis | None = None) -> list[Span]:
    """Poll `fetch` until every check passes; return the spans, or raise TraceAssertionError
    (whose message includes what `diagnosis`, asked only then, finds)."""
    last: dict[str, object] = {"spans": [], "failures": [], "error": None}

    def probe():
        try:
            spans = list(fetch())
        except Exception as exc:
            last["error"] = f"{type(exc).__name__}: {exc}"
            raise
        failures = evaluate(checks, spans)
        last.update(spans=spans, failures=failures, error=None)
        return spans if not failures else Pending(f"{len(failures)} check(s) failing, {len(spans)} span(s)")

    try:
        return wait_for("; ".join(c.description for c in checks), probe, timeout_s)
    except WaitTimeout:
        spans, failures = last["spans"], list(last["failures"])
        if last["error"] is not None:  # the trace backend did not answer the last query
            failures.insert(0, Failure("query the trace backend", "an answer", str(last["error"])))
        message = explain(failures, spans, context=context or f"after {timeout_s:g}s, trace expectations not met",
                          logs_hint=logs_hint, diagnosis=diagnosis)
        raise TraceAssertionError(message, failures, spans) from None


def expect_now(spans: Sequence[Span], checks: Sequence[Check], *, context: str = "", logs_hint: str = "",
               diagnosis: diagnose.Diagnosis | None = None) -> None:
    """A one-shot verdict, for negative checks made after a positive control has passed."""
    failures = evaluate(checks, spans)
    if failures:
        raise TraceAssertionError(explain(failures, spans, context=context, logs_hint=logs_hint, diagnosis=diagnosis),
                                  failures, spans)
