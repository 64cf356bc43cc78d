"""What the local processes know about a failure (a `diagnose.Diagnosis`): components that died
or were restarted, components whose span exporter complains in their log, the collector's own
export errors, spans the trace backend has lost since the harness read them. The local platform's
`diagnosis()` is these four; a fault test's stack of its own
builds the same with `pipeline_diagnosis`."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmd_trace_e2e.platforms.local.pipeline import LOCAL_BACKENDS
from llmd_trace_e2e.runtime.diagnose import EVIDENCE_LINES, Diagnosis, Finding, Sources, short_log_line

if TYPE_CHECKING:
    from llmd_trace_e2e.platforms.local.pipeline import LocalCollector
    from llmd_trace_e2e.runtime.procs import Supervisor
    from llmd_trace_e2e.traces.query import TraceQuery

MAX_NAMED_SPANS = 12
# A span exporter's complaint: the Python SDK's "Transient error ... while exporting traces to X"
# and "Failed to export traces to X", the Go SDK's "traces export: ...".
EXPORT_ERROR = re.compile(r"exporting (traces|spans)|export(ing)? (traces|spans) (to|batch)|traces export|"
                          r"failed to export", re.IGNORECASE)
EXPORT_LOG_LINES = 400  # how far back in a component's log to look
PIPELINE = ("collector", "otelcol", *LOCAL_BACKENDS)  # their own export is CollectorExport's


@dataclass(eq=False)
class ProcessHealth:
    """Components that are not running, and restarts the supervisor recorded."""

    supervisor: "Supervisor"
    component: str = "processes"

    def findings(self) -> list[Finding]:
        out = [Finding(e.name, f"{e.what} at {e.at:%H:%M:%S} UTC") for e in self.supervisor.history]
        for proc in list(self.supervisor.processes):
            if proc.pid is not None and not proc.alive():
                tail = [short_log_line(ln) for ln in proc.tail(EVIDENCE_LINES).splitlines() if ln.strip()]
                out.append(Finding(proc.name, f"is not running: {proc.describe_exit()} (log: {proc.log_path})",
                                   tuple(tail)))
        return out


@dataclass(eq=False)
class ExporterErrors:
    """The components' own span exporters complaining in their logs (a wrong endpoint, a collector
    that refuses them): the reason a component's spans never reached the collector."""

    supervisor: "Supervisor"
    component: str = "exporters"

    def findings(self) -> list[Finding]:
        out = []
        for proc in list(self.supervisor.processes):
            if proc.name in PIPELINE:
                continue
            lines = [short_log_line(ln) for ln in proc.tail(EXPORT_LOG_LINES).splitlines() if EXPORT_ERROR.search(ln)]
            if lines:
                out.append(Finding(proc.name, f"its span exporter logged {len(lines)} error(s) in the last "
                                              f"{EXPORT_LOG_LINES} lines of its log ({proc.log_path})",
                                   tuple(lines[-EVIDENCE_LINES:])))
        return out


@dataclass(eq=False)
class CollectorExport:
    """The collector's own account of exporting to Jaeger: its log's export errors and counters."""

    collector: "LocalCollector"
    component: str = "collector"

    def findings(self) -> list[Finding]:
        errors = self.collector.export_errors()
        if not errors:
            return []
        try:
            c = self.collector.exporter_counts()
            counts = f"; its counters: {c['sent']:g} span(s) sent, {c['failed']:g} failed, {c['queued']:g} batch(es) queued"
        except Exception:  # noqa: BLE001 - the collector may be down; the log still speaks
            counts = ""
        return [Finding("collector", f"spans never reached Jaeger: the collector's exporter to "
                                     f"{self.collector.backend_endpoint} logged {len(errors)} export error(s){counts} "
                                     f"(log: {self.collector.proc.log_path})",
                        tuple(errors[-EVIDENCE_LINES:]))]


@dataclass(eq=False)
class TraceLedger:
    """Spans the harness read from the trace backend (the run's Jaeger) earlier that it no longer returns."""

    client: "TraceQuery"
    component: str = "jaeger"

    def findings(self) -> list[Finding]:
        from llmd_trace_e2e.traces.query import TraceQueryError

        try:
            gone = self.client.vanished()
        except TraceQueryError as exc:
            return [Finding("jaeger", f"does not answer queries: {exc}")]
        if not gone:
            return []
        names = sorted({f"{s.service}:{s.name} (trace {s.trace_id})" for s in gone})
        more = [f"... and {len(names) - MAX_NAMED_SPANS} more"] if len(names) > MAX_NAMED_SPANS else []
        return [Finding("jaeger", f"{len(gone)} span(s) the harness had already read from Jaeger are gone "
                                  "(a Jaeger restart empties its memory storage)",
                        tuple(names[:MAX_NAMED_SPANS] + more))]


def pipeline_diagnosis(supervisor: "Supervisor", collector: "LocalCollector | None",
                       traces: "TraceQuery | None") -> Sources:
    """The diagnosis of a stack of local processes with (optionally) a collector and a trace backend."""
    sources: list[Diagnosis] = [ProcessHealth(supervisor), ExporterErrors(supervisor)]
    if collector is not None:
        sources.append(CollectorExport(collector))
    if traces is not None:
        sources.append(TraceLedger(traces))
    return Sources(*sources)
