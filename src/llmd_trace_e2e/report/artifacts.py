"""One test's artifacts folder: its traces as the trace backend exports them, their waterfall
(HTML and PNG), each component's log slice for the test's time window, and `test.json`.

The pytest plugin (src/pytest_llmd_trace/reporting.py) only wires this up: it marks a test's start and end,
and hands over what the test sent (Completions) and what a failed trace assertion saw.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from llmd_trace_e2e.deployment.charts import epp_launch, vllm_launch
from llmd_trace_e2e.deployment.sampling import root_ratio
from llmd_trace_e2e.platforms.base import COMPONENTS, expected_service
from llmd_trace_e2e.traces.model import Span
from llmd_trace_e2e.traces.query import TraceQuery, TraceQueryError
from llmd_trace_e2e.traffic.completions import Completion
from llmd_trace_e2e.report.summary import seen_by_service
from llmd_trace_e2e.report.waterfall import write_waterfall

MAX_TRACES_PER_TEST = 12  # a failed search over a window can name hundreds; the JSON keeps the first ones
NO_TRAFFIC = "this test sent no request the harness could follow and no trace assertion failed"


# --- log slices -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class LogMarks:
    """Each process log's size at one moment: a test's slice lies between two marks."""

    sizes: Mapping[str, int]

    @classmethod
    def take(cls, log_dir: Path) -> "LogMarks":
        sizes = {}
        for path in sorted(Path(log_dir).glob("*.log")):
            try:
                sizes[path.name] = path.stat().st_size
            except OSError:
                continue
        return cls(sizes)


def slice_logs(log_dir: Path, start: LogMarks, end: LogMarks, out_dir: Path) -> list[Path]:
    """Copy each log's bytes between the marks into `out_dir` (a log that appeared in between
    is sliced from its start); empty slices are not written."""
    written = []
    for name, stop in end.sizes.items():
        begin = start.sizes.get(name, 0)
        if stop <= begin:
            continue
        with open(Path(log_dir) / name, "rb") as src:
            src.seek(begin)
            chunk = src.read(stop - begin)
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / name
        target.write_bytes(chunk)
        written.append(target)
    return written


# --- which traces a test made -------------------------------------------------------------------------

def folder_name(nodeid: str, limit: int = 120) -> str:
    """A test id as one safe path segment: e2e/test_x.py::test_y[a-b] -> test_x.py__test_y_a-b."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", nodeid.split("/")[-1].replace("::", "__")).strip("_")
    if len(name) > limit:
        name = f"{name[: limit - 9]}-{hashlib.sha1(nodeid.encode()).hexdigest()[:8]}"
    return name


def expected_spans(platform) -> dict[str, tuple[str, ...]]:
    """service -> span names each running component should export under the values in effect
    (none from a component whose tracing is off or whose sampler ratio is 0)."""
    out = {}
    for component in COMPONENTS:
        if not platform.profile.runs(component):
            continue
        service = expected_service(platform.values, platform.profile, component)
        if service and not _samples_nothing(platform, component):
            out[service] = tuple(platform.profile.spans.get(component) or ())
    return out


def _samples_nothing(platform, component: str) -> bool:
    if component == "epp":
        launch = epp_launch(platform.values, platform.profile)
    elif component.startswith("vllm-"):
        launch = vllm_launch(platform.values, platform.profile, component.removeprefix("vllm-"))
    else:
        return False
    try:
        return root_ratio(launch.env) == 0.0
    except ValueError:
        return False


def completions_in(values: Iterable[Any], params: Mapping[str, Any] | None = None) -> list[Completion]:
    """Completions among a test's fixture values (directly, or one level inside a dict/list).
    A test parametrized by a key of a dict of Completions (`completions[kind]`) gets that entry only."""
    keys = {v for v in (params or {}).values() if isinstance(v, str)}
    found: list[Completion] = []
    for value in values:
        if isinstance(value, Mapping):
            chosen = [v for k, v in value.items() if k in keys]
            items = chosen if any(isinstance(v, Completion) for v in chosen) else list(value.values())
        else:
            items = value if isinstance(value, (list, tuple)) else [value]
        found += [v for v in items if isinstance(v, Completion)]
    return found


def completion_trace_ids(traces: TraceQuery, completion: Completion, services: Sequence[str]) -> list[str]:
    """The traces a request made: the caller's (absent from the backend if it was sent without a
    traceparent), the one holding a span for its response id (vLLM's llm_request), and root spans
    started during the request by those of `services` with no span in the caller's trace (a
    component that ignores the caller's traceparent starts a trace of its own). All processes
    share this machine's clock, so "during" has no slack: back-to-back requests stay apart. A
    `GET` root is a health check or a scrape, never the request."""
    caller = completion.traceparent.trace_id
    ids = [caller]
    try:
        joined = {s.service for s in traces.trace_spans(caller)}
    except TraceQueryError:
        joined = set()
    begin = completion.started.timestamp()
    end = begin + completion.seconds
    for service in services:
        try:
            spans = traces.find_spans(service, completion.started - timedelta(seconds=1),
                                      completion.started + timedelta(seconds=completion.seconds + 1))
        except TraceQueryError:
            continue
        for span in spans:
            rooted_here = (span.service == service and service not in joined and not span.parent_span_id
                           and not span.name.startswith("GET ") and begin <= span.start_ns / 1e9 <= end)
            if (rooted_here or completion.is_request_of(span)) and span.trace_id not in ids:
                ids.append(span.trace_id)
    return ids


# --- the folder ----------------------------------------------------------------------------------------

@dataclass
class TestCapture:
    """What the harness recorded about one test, filled in by the pytest plugin."""

    __test__ = False  # not a pytest test class

    nodeid: str
    folder: Path
    log_dir: Path
    started: datetime
    start_marks: LogMarks
    expected: dict[str, tuple[str, ...]] = field(default_factory=dict)
    ended: datetime | None = None
    end_marks: LogMarks | None = None
    completions: list[Completion] = field(default_factory=list)
    trace_ids: list[str] = field(default_factory=list)  # in the order they became known
    failure_spans: list[Span] = field(default_factory=list)  # what a failed trace assertion saw
    seen: dict[str, dict[str, int]] = field(default_factory=dict)  # filled in by write_test_artifacts

    def add_traces(self, ids: Iterable[str]) -> None:
        for tid in ids:
            if tid and tid not in self.trace_ids:
                self.trace_ids.append(tid)

    def external_parents(self) -> set[str]:
        return {c.traceparent.span_id for c in self.completions}


class TraceCache:
    """Each trace fetched once per run: several tests share the session's requests. The backend's
    own document goes to the folder unread; the harness reads the spans through the query."""

    def __init__(self, traces: TraceQuery):
        self.traces = traces
        self._raw: dict[str, dict | None] = {}
        self._spans: dict[str, list[Span]] = {}

    def raw(self, trace_id: str) -> dict | None:
        if trace_id not in self._raw:
            try:
                self._raw[trace_id] = self.traces.raw_trace(trace_id)
            except TraceQueryError as err:
                self._raw[trace_id] = {"error": str(err)}
        return self._raw[trace_id]

    def spans(self, trace_id: str) -> list[Span]:
        if trace_id not in self._spans:
            try:
                self._spans[trace_id] = self.traces.trace_spans(trace_id)
            except TraceQueryError:
                self._spans[trace_id] = []
        return self._spans[trace_id]


def write_test_artifacts(capture: TestCapture, cache: TraceCache, outcome: str) -> Path:
    """Write the folder; returns it. Also fills `capture.seen` from the traces fetched."""
    folder = capture.folder
    folder.mkdir(parents=True, exist_ok=True)
    spans: list[Span] = []
    fetched = []
    for tid in capture.trace_ids[:MAX_TRACES_PER_TEST]:
        raw = cache.raw(tid)
        if raw is None:
            fetched.append((tid, "not in the trace backend"))
            continue
        (folder / f"trace-{tid}.json").write_text(json.dumps(raw, indent=1), encoding="utf-8")
        these = cache.spans(tid)
        spans += these
        fetched.append((tid, f"{len(these)} spans"))
    capture.seen = seen_by_service(spans)
    title = f"{capture.nodeid} ({outcome})"
    write_waterfall(spans, folder, title, external_parents=capture.external_parents(),
                    empty_text=NO_TRAFFIC if not capture.trace_ids else
                    "none of this test's traces is in the trace backend: " + ", ".join(capture.trace_ids[:4]))
    if capture.failure_spans:
        write_waterfall(capture.failure_spans, folder, f"{capture.nodeid}: what the failed assertion saw",
                        stem="at-failure", external_parents=capture.external_parents())
    if capture.end_marks is not None:
        slice_logs(capture.log_dir, capture.start_marks, capture.end_marks, folder / "logs")
    (folder / "test.json").write_text(json.dumps({
        "test": capture.nodeid,
        "outcome": outcome,
        "started": capture.started.isoformat(),
        "ended": capture.ended.isoformat() if capture.ended else None,
        "traces": [{"trace_id": tid, "found": what} for tid, what in fetched],
        "traces_not_written": capture.trace_ids[MAX_TRACES_PER_TEST:],
        "requests": [{"kind": c.kind, "traceparent": c.traceparent.header,
                      "response_id": c.response_id, "status": c.status, "started": c.started.isoformat(),
                      "seconds": round(c.seconds, 4)} for c in capture.completions],
        "spans_seen": capture.seen,
        "spans_expected": {k: list(v) for k, v in capture.expected.items()},
    }, indent=1), encoding="utf-8")
    return folder
