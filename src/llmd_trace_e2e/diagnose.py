"""Why spans are missing: facts about the stack, gathered when a trace assertion fails.

A failed assertion shows what was expected and what arrived. It cannot see why something did
not arrive: a component that died, a collector that cannot export, a Jaeger that lost its
memory storage. Sources registered with `watching()` (the local platform registers its own, a
test may register a stack's) are asked for findings when a failure is explained. A finding is
a fact with its evidence (log lines, span names), never a guess; a source that cannot look
says so instead of hiding the assertion behind a traceback.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Iterator, Protocol, Sequence

if TYPE_CHECKING:
    from .pipeline import LocalCollector
    from .procs import Supervisor
    from .traces.jaeger import JaegerClient

EVIDENCE_LINES = 5
MAX_NAMED_SPANS = 12
LINE_CHARS = 400


def short_log_line(line: str) -> str:
    """A Go component's log line, short: zap's console form `<time>\t<level>\t<caller>\t<message>\t{json}`
    and its JSON form `{"level":..,"ts":..,"msg":..}` become `<time> <level> <message>: <error>`;
    other lines are cut to LINE_CHARS."""
    text = line.rstrip("\n")
    fields: dict = {}
    if text.startswith("{"):
        try:
            fields = json.loads(text)
        except ValueError:
            fields = {}
        if not isinstance(fields, dict) or "msg" not in fields:
            return text[:LINE_CHARS]
        when = fields.get("ts", "")
        if isinstance(when, (int, float)):
            when = datetime.fromtimestamp(when, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        head = f"{when} {fields.get('level', '')} {fields['msg']}"
    else:
        parts = text.split("\t")
        if len(parts) < 4:
            return text.strip()[:LINE_CHARS]
        head = f"{parts[0]} {parts[1]} {parts[3]}"
        if len(parts) > 4:
            try:
                fields = json.loads(parts[4])
            except ValueError:
                fields = {}
    detail = str(fields.get("error") or fields.get("err") or "") if isinstance(fields, dict) else ""
    if isinstance(fields, dict) and fields.get("dropped_items"):
        detail += f" (dropped {fields['dropped_items']} items)"
    return (head + (f": {detail}" if detail else ""))[:LINE_CHARS]


@dataclass(frozen=True)
class Finding:
    component: str  # "collector", "jaeger", "epp", ...
    summary: str  # one line: what is wrong
    evidence: tuple[str, ...] = ()  # log lines, span names


class Source(Protocol):
    def findings(self) -> list[Finding]: ...


_sources: list[Source] = []


@contextmanager
def watching(*sources: Source) -> Iterator[None]:
    """Consult these sources for every failure explained inside the block."""
    _sources.extend(sources)
    try:
        yield
    finally:
        for source in sources:
            if source in _sources:
                _sources.remove(source)


def findings(sources: Sequence[Source] | None = None) -> list[Finding]:
    """What the sources (default: every registered one) find; a source that fails says so."""
    found: list[Finding] = []
    for source in list(_sources if sources is None else sources):
        try:
            found += source.findings()
        except Exception as exc:  # noqa: BLE001 - a diagnosis must never hide the assertion
            found.append(Finding(getattr(source, "component", type(source).__name__),
                                 f"could not be checked: {type(exc).__name__}: {exc}"))
    return found


def render(found: Sequence[Finding]) -> str:
    lines = []
    for f in found:
        lines.append(f"- {f.component}: {f.summary}")
        lines += [f"    {e}" for e in f.evidence]
    return "\n".join(lines)


def report() -> str:
    """The findings of every registered source, rendered; empty when nothing is registered or wrong."""
    return render(findings()) if _sources else ""


# --- sources ---------------------------------------------------------------------------------


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
                                     f"{self.collector.jaeger_endpoint} logged {len(errors)} export error(s){counts} "
                                     f"(log: {self.collector.proc.log_path})",
                        tuple(errors[-EVIDENCE_LINES:]))]


@dataclass(eq=False)
class JaegerLedger:
    """Spans the harness read from Jaeger earlier that Jaeger no longer returns."""

    client: "JaegerClient"
    component: str = "jaeger"

    def findings(self) -> list[Finding]:
        from .traces.jaeger import JaegerQueryError

        try:
            gone = self.client.vanished()
        except JaegerQueryError as exc:
            return [Finding("jaeger", f"does not answer queries: {exc}")]
        if not gone:
            return []
        names = sorted({f"{s.service}:{s.name} (trace {s.trace_id})" for s in gone})
        more = [f"... and {len(names) - MAX_NAMED_SPANS} more"] if len(names) > MAX_NAMED_SPANS else []
        return [Finding("jaeger", f"{len(gone)} span(s) the harness had already read from Jaeger are gone "
                                  "(a Jaeger restart empties its memory storage)",
                        tuple(names[:MAX_NAMED_SPANS] + more))]


def for_pipeline(supervisor: "Supervisor", collector: "LocalCollector | None",
                 jaeger: "JaegerClient | None") -> list[Source]:
    """The sources for a stack of local processes with (optionally) a collector and a Jaeger."""
    sources: list[Source] = [ProcessHealth(supervisor)]
    if collector is not None:
        sources.append(CollectorExport(collector))
    if jaeger is not None:
        sources.append(JaegerLedger(jaeger))
    return sources
