"""Why spans are missing: what a platform knows about a failure, for the message of a failed
trace assertion.

A failed assertion shows what was expected and what arrived. It cannot see why something did
not arrive: a component that died, a collector that cannot export, a Jaeger that lost its
memory storage, a pod that crash-loops. Each platform gives its own `Diagnosis`
(`platform.diagnosis()`: the local one's processes, collector and Jaeger, kind's pods and
events), and whoever calls `expect` passes it along; nothing is registered anywhere. A finding
is a fact with its evidence (log lines, span names), never a guess; a source that cannot look
says so instead of hiding the assertion behind a traceback.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Protocol, Sequence

EVIDENCE_LINES = 5
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


class Diagnosis(Protocol):
    """Something that can say what is wrong right now (asked only when a check has failed)."""

    def findings(self) -> list[Finding]: ...


def consult(*sources: Diagnosis) -> list[Finding]:
    """What the sources find; a source that fails says so as a finding of its own."""
    found: list[Finding] = []
    for source in sources:
        try:
            found += source.findings()
        except Exception as exc:  # noqa: BLE001 - a diagnosis must never hide the assertion
            found.append(Finding(getattr(source, "component", type(source).__name__),
                                 f"could not be checked: {type(exc).__name__}: {exc}"))
    return found


class Sources:
    """Several diagnoses asked as one, each on its own (one that fails does not silence the rest)."""

    def __init__(self, *sources: Diagnosis):
        self.sources = sources

    def findings(self) -> list[Finding]:
        return consult(*self.sources)


def render(found: Sequence[Finding]) -> str:
    lines = []
    for f in found:
        lines.append(f"- {f.component}: {f.summary}")
        lines += [f"    {e}" for e in f.evidence]
    return "\n".join(lines)


def report(diagnosis: Diagnosis | None) -> str:
    """The diagnosis's findings, rendered; empty when there is no diagnosis or nothing is wrong."""
    return render(consult(diagnosis)) if diagnosis is not None else ""
