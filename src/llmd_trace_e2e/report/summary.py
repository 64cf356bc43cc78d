"""The run's `summary.md`: per test, the services and span counts seen against expected, the
verdict, the duration and a link to the test's artifacts; appended to the GitHub job summary
when `$GITHUB_STEP_SUMMARY` is set."""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from llmd_trace_e2e.deployment.guide import sections as guide_sections
from llmd_trace_e2e.deployment.releases import GUIDE_PART, Judgement, RunVersions, Status
from llmd_trace_e2e.traces.model import Span
from llmd_trace_e2e.traces.render import markdown_table

# pytest outcome -> what the summary says; the order is the order of the totals line.
VERDICTS = {
    "failed": "❌ fail",
    "error": "⚠️ error",
    "xpassed": "❗ xpass (a known gap closed?)",
    "passed": "✅ pass",
    "xfailed": "🟡 xfail (known gap)",
    "skipped": "⏭️ skip",
}
NOTE_CHARS = 160


@dataclass(frozen=True)
class TestRecord:
    __test__ = False  # not a pytest test class

    nodeid: str
    outcome: str  # a key of VERDICTS
    duration_s: float
    trace_ids: tuple[str, ...] = ()
    seen: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # service -> span name -> count
    expected: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # service -> span names it should export
    # (seen against expected is shown only for a test with traces: one that sent no request has
    # nothing to count)
    artifacts: Path | None = None
    note: str = ""  # why it failed or was skipped, one line
    promise: str = ""  # the property the test proves (its `promise` marker), shown under its name
    section: str = ""  # the tracing guide's section the test checks (its `guide` marker)


def seen_by_service(spans: Iterable[Span]) -> dict[str, dict[str, int]]:
    out: dict[str, Counter] = {}
    for span in spans:
        out.setdefault(span.service, Counter())[span.name] += 1
    return {svc: dict(names) for svc, names in sorted(out.items())}


def services_cell(seen: Mapping[str, Mapping[str, int]], expected: Mapping[str, Sequence[str]]) -> str:
    """One line per service: spans seen, and against what the values say it exports."""
    if not seen and not expected:
        return "-"
    lines = []
    for service in sorted(set(seen) | set(expected)):
        names = seen.get(service, {})
        count = sum(names.values())
        if service not in expected:
            lines.append(f"{service}: {count}")
            continue
        missing = [n for n in expected[service] if n not in names] if expected[service] else ([] if count else ["any"])
        mark = "✓" if not missing else f"✗ missing {', '.join(missing)}"
        lines.append(f"{service}: {count} {mark}")
    return "<br>".join(lines)


def _link(record: TestRecord, base: Path | None) -> str:
    if record.artifacts is None:
        return "-"
    if base is None:
        return f"`{record.artifacts}`"
    rel = Path(os.path.relpath(record.artifacts, base)).as_posix()
    return f"[folder]({rel}/) · [waterfall]({rel}/waterfall.html)" if (record.artifacts / "waterfall.html").exists() \
        else f"[folder]({rel}/)"


def _note(text: str) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first if len(first) <= NOTE_CHARS else first[: NOTE_CHARS - 3] + "..."


def _traces_cell(trace_ids: Sequence[str], shown: int = 6) -> str:
    more = f"<br>+{len(trace_ids) - shown}" if len(trace_ids) > shown else ""
    return "<br>".join(f"`{t}`" for t in trace_ids[:shown]) + more or "-"


def totals(records: Sequence[TestRecord]) -> str:
    counts = Counter(r.outcome for r in records)
    return ", ".join(f"{counts[o]} {o}" for o in VERDICTS if counts[o]) or "no tests"


def silent_lines(silent: Mapping[str, str]) -> list[str]:
    """Each component found exporting nothing, and why: one line each, said once, at the top."""
    return [f"silent component {component}: {reason}" for component, reason in silent.items()]


def release_facts(run: RunVersions, judgements: Mapping[str, Judgement]) -> list[tuple[str, str]]:
    """The summary's lines on releases: what runs in each part, each part whose version is not
    known (its version-gated checks ran as plain checks), and the known gaps by status."""
    shown = [f"{part} {running.label()}" for part, running in run.items() if part != GUIDE_PART]
    facts = [("releases", ", ".join(shown))] if shown else []
    for part, running in run.items():
        if running.version is None and part != GUIDE_PART:
            gated = [gap for gap, j in judgements.items() if j.status is Status.UNKNOWN and part in j.parts]
            facts.append((f"version unknown: {part}", f"{running.project} from {running.source}; "
                          + (f"checks of known gaps {', '.join(gated)} ran as plain checks (not expected to fail)"
                             if gated else "no known gap depends on it")))
    by_status = {status: [gap for gap, j in judgements.items() if j.status is status] for status in Status}
    words = {Status.APPLIES: "expected to fail (the run's release has them)",
             Status.FIXED: "checked plainly (the run's release has the fix, or predates the gap)",
             Status.UNKNOWN: "checked plainly (not known whether the run's release has them)",
             Status.NOT_CONCERNED: "not concerned (no part of the run comes from a project that has them)"}
    listed = [f"{words[status]}: {', '.join(gaps)}" for status, gaps in by_status.items() if gaps]
    if listed:
        facts.append(("known gaps", "; ".join(listed)))
    return facts


def render_summary(records: Sequence[TestRecord], *, title: str = "llm-d tracing e2e",
                   facts: Sequence[tuple[str, str]] = (), link_base: Path | None = None,
                   silent: Mapping[str, str] | None = None) -> str:
    """`link_base`: the folder the markdown is written to (artifact links relative to it), or
    None to show plain paths (a GitHub job summary cannot link to files). `silent`: components
    whose tracing is on but whose spans never reached the collector, with why (the tests that
    need them fail with that reason; it is said once, here, at the top)."""
    wall = sum(r.duration_s for r in records)
    lines = [f"# {title}", ""]
    for line in silent_lines(silent or {}):
        lines += [f"> ⚠️ {line}", ""]
    lines += [f"**{totals(records)}** in {wall:.1f} s of test time", ""]
    lines += [f"- {key}: {value}" for key, value in facts]
    if facts:
        lines.append("")
    for section, group in _by_section(records):
        if section is not None:
            lines += [f"## {section}" if section else "## (no guide section)", ""]
            promise = guide_sections().get(section)
            if promise:
                lines += [f"The guide promises: {promise}. {totals(group)}.", ""]
        rows = [(f"`{r.nodeid}`" + (f"<br>promise: {r.promise}" if r.promise else ""), VERDICTS.get(r.outcome, r.outcome),
                 f"{r.duration_s:.1f} s",
                 services_cell(r.seen, r.expected) if r.trace_ids and r.outcome != "skipped" else "-",
                 _traces_cell(r.trace_ids) if r.outcome != "skipped" else "-", _link(r, link_base), _note(r.note))
                for r in group]
        lines += [markdown_table(("test", "verdict", "duration", "services: spans seen (✓ as expected)",
                                  "traces", "artifacts", "note"), rows), ""]
    return "\n".join(lines) + "\n"


def _by_section(records: Sequence[TestRecord]) -> list[tuple[str | None, list[TestRecord]]]:
    """Records grouped by guide section, in the guide's order (untagged last); one group with
    no heading when no record names a section."""
    if not any(r.section for r in records):
        return [(None, list(records))]
    order = {title: i for i, title in enumerate(guide_sections())}
    groups: dict[str, list[TestRecord]] = {}
    for record in records:
        groups.setdefault(record.section, []).append(record)
    return sorted(groups.items(), key=lambda kv: (kv[0] == "", order.get(kv[0], len(order)), kv[0]))


def write_summary(records: Sequence[TestRecord], path: Path, *, title: str = "llm-d tracing e2e",
                  facts: Sequence[tuple[str, str]] = (), github: bool = True,
                  silent: Mapping[str, str] | None = None) -> Path:
    """Write `path` (links relative to its folder); with `github`, also append to the GitHub job
    summary when `$GITHUB_STEP_SUMMARY` names one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_summary(records, title=title, facts=facts, link_base=path.parent.resolve(), silent=silent),
                    encoding="utf-8")
    job_summary = os.environ.get("GITHUB_STEP_SUMMARY") if github else None
    if job_summary:
        with open(job_summary, "a", encoding="utf-8") as fh:
            fh.write(render_summary(records, title=title, facts=facts, link_base=None, silent=silent) + "\n")
    return path
