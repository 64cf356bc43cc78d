"""Which project's release runs in each part of a run, and whether a known gap lives in it.

A known gap lives in some projects' releases, not in a component as such: GAIE's EPP starts a
new root trace in every release and never will stop (v1.5.0 was its last: GAIE v1.6.0 removed
the EPP), while llm-d-router's EPP did until v0.9.0 (PR 1514). A run's parts (its components
and the charts that render them) each come from one project at one version: pinned by
versions.toml, or given by the user and then perhaps unknown.

`judge(gap_releases, run)` answers for one gap and one run:
  APPLIES        the run's release has the gap: a strict expected failure
  FIXED          the run's release has the fix (or predates the gap): a plain check that must pass
  UNKNOWN        the run's version is unknown, or the facts do not say whether that release has
                 the gap: a plain check, and the run's summary says the version was not known
  NOT_CONCERNED  no part of the run comes from a project the gap lives in: a plain check
A gap that names no releases applies wherever a profile lists it. Where a project's entry has no
boundary (every release has it: no fixed_in, since or through, or `never`), the gap applies to
that project's parts whatever their version, known or not: only a boundary makes a version matter.
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

# The parts of a run whose release can carry a gap: the components that export spans, and the
# charts (or the guide's text) whose render configures them.
CHART_PARTS = ("epp-chart", "modelservice-chart")
GUIDE_PART = "collector-config"  # the guide's recommended collector config: no releases
PROJECTS = ("gaie", "llm-d-router", "llm-d-modelservice", "llm-d-routing-sidecar", "vllm", "llm-d-guide")


class Status(enum.Enum):
    APPLIES = "applies"
    FIXED = "fixed"
    UNKNOWN = "unknown"
    NOT_CONCERNED = "not concerned"

    @property
    def expected_to_fail(self) -> bool:
        return self is Status.APPLIES


@dataclass(frozen=True)
class RunVersion:
    """What runs in one part of a run."""

    project: str
    version: str | None  # None: not known (a user's own build)
    source: str  # where the version comes from: "versions.toml [go_tools.epp]", "--component epp=PATH"

    def label(self) -> str:
        return f"{self.project} {self.version or '(version unknown)'}"


RunVersions = Mapping[str, RunVersion]  # part -> what runs there


def parse_version(text: str | None) -> tuple[int, ...] | None:
    """v1.5.0, 0.32.0, v0.4.12 -> numbers; a pre-release or build suffix is ignored; None when
    there is no leading number."""
    match = re.match(r"v?(\d+(?:\.\d+)*)", (text or "").strip())
    if not match:
        return None
    parts = [int(p) for p in match.group(1).split(".")]
    while len(parts) > 1 and parts[-1] == 0:  # v1.5 == v1.5.0
        parts.pop()
    return tuple(parts)


@dataclass(frozen=True)
class GapRelease:
    """Where a gap lives in one project's releases."""

    parts: tuple[str, ...]  # the run's parts whose release decides (a component or a chart)
    project: str
    fixed_in: str | None = None  # the first release with the fix; None: no release known to fix it
    never: str = ""  # why no release of this project will ever fix it (e.g. the project ended)
    since: str | None = None  # the first release with the gap; None: every release before the fix
    through: str | None = None  # no fixed_in: the newest release known to have it (later: not confirmed)
    fix: str = ""  # the upstream change that fixes it

    def facts(self) -> str:
        """One line: which releases have it and which fixed it."""
        have = f"releases from {self.since}" if self.since else "every release"
        if self.never:
            return f"{self.project}: {have}, never fixed there: {self.never}"
        if self.fixed_in:
            return f"{self.project}: fixed in {self.fixed_in}" + (f" by {self.fix}" if self.fix else "")
        if self.through:
            return (f"{self.project}: releases to {self.through} have it, no release is known to fix it"
                    + (f" ({self.fix})" if self.fix else ""))
        return f"{self.project}: {have} to date" + (f", fix pending: {self.fix}" if self.fix else "")

    def status(self, version: str | None) -> tuple[Status, str]:
        """This project's release `version` (None: unknown) against the gap: status and why."""
        have_all = not self.since and (self.never or (not self.fixed_in and not self.through))
        if have_all:  # no boundary: every release has it, whatever the version
            return Status.APPLIES, f"{self.project} {version or ''} has it ({self.facts()})".replace("  ", " ")
        label = f"{self.project} {version}" if version else f"{self.project} of unknown version"
        number = parse_version(version)
        if number is None:
            return Status.UNKNOWN, f"{label}: not known whether it has the gap, so the check runs plainly ({self.facts()})"
        if self.since and number < parse_version(self.since):
            return Status.FIXED, f"{label} predates it ({self.facts()})"
        if self.fixed_in and number >= parse_version(self.fixed_in):
            return Status.FIXED, f"{label} has the fix ({self.facts()})"
        if self.fixed_in or not self.through or number <= parse_version(self.through):
            return Status.APPLIES, f"{label} has it ({self.facts()})"
        return Status.UNKNOWN, (f"{label}: not known whether this release has the fix, so the check "
                                f"runs plainly ({self.facts()})")


@dataclass(frozen=True)
class Judgement:
    status: Status
    why: str  # one line, naming the project, the version and the release facts
    parts: tuple[str, ...] = ()  # the run's parts that decided


def judge(releases: Sequence[GapRelease], run: RunVersions) -> Judgement:
    """Whether a gap with these release facts applies to a run with these parts. The gap applies
    when any part of the run has it; else it is unknown when any part might; else fixed."""
    if not releases:
        return Judgement(Status.APPLIES, "names no releases: applies wherever its profile lists it")
    found: list[tuple[str, Status, str]] = []
    for entry in releases:
        for part in entry.parts:
            running = run.get(part)
            if running is not None and running.project == entry.project:
                status, why = entry.status(running.version)
                found.append((part, status, why))
    if not found:
        ran = sorted({f"{p}: {run[p].label()}" for e in releases for p in e.parts if p in run})
        lives = ", ".join(sorted({e.project for e in releases}))
        return Judgement(Status.NOT_CONCERNED, f"lives in {lives}; this run has "
                         + ("; ".join(ran) if ran else "none of its parts"))
    for wanted in (Status.APPLIES, Status.UNKNOWN, Status.FIXED):
        hits = [(part, why) for part, status, why in found if status is wanted]
        if hits:
            return Judgement(wanted, "; ".join(dict.fromkeys(why for _, why in hits)), tuple(p for p, _ in hits))
    raise AssertionError("unreachable")


def with_part(run: RunVersions, part: str, project: str, version: str | None, source: str) -> dict[str, RunVersion]:
    """`run` with one part replaced (a user's own binary: `--component epp=PATH@VERSION`)."""
    return {**run, part: RunVersion(project, version, source)}


def unknown_parts(run: RunVersions) -> list[str]:
    """The parts whose release is not known (not the guide's text, which has none)."""
    return [part for part, running in run.items() if running.version is None and part != GUIDE_PART]


def parse_gap_releases(raw: Iterable[Mapping], default_parts: Sequence[str], where: str) -> tuple[GapRelease, ...]:
    """A gap's `releases:` list from config/profiles.yaml; raises ValueError naming what is wrong."""
    out = []
    for item in raw or []:
        unknown = set(item) - {"in", "project", "fixed_in", "never", "since", "through", "fix"}
        if unknown or "project" not in item:
            raise ValueError(f"{where}: each release entry needs `project` (and may have in, fixed_in, never, "
                             f"since, through, fix); got {sorted(item)}")
        if item["project"] not in PROJECTS:
            raise ValueError(f"{where}: unknown project {item['project']!r}; known: {', '.join(PROJECTS)}")
        parts = item.get("in", list(default_parts))
        parts = (parts,) if isinstance(parts, str) else tuple(parts)
        if item.get("never") and (item.get("fixed_in") or item.get("through")):
            raise ValueError(f"{where}: {item['project']} is `never` fixed, so it takes no fixed_in or through")
        for key in ("fixed_in", "since", "through"):
            if item.get(key) is not None and parse_version(str(item[key])) is None:
                raise ValueError(f"{where}: {key} {item[key]!r} is not a version")
        out.append(GapRelease(parts, item["project"], _str(item.get("fixed_in")), " ".join(str(item.get("never") or "").split()),
                              _str(item.get("since")), _str(item.get("through")), str(item.get("fix") or "")))
    return tuple(out)


def _str(value) -> str | None:
    return None if value is None else str(value)
