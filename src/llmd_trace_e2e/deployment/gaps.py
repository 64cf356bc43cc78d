"""Known upstream gaps (a profile's known_gaps in config/profiles.yaml): what each breaks, in
which components, and which projects' releases have it (releases.py judges a run against them)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from llmd_trace_e2e.deployment import releases as rel
from llmd_trace_e2e.deployment.releases import GapRelease, Judgement

GAP_EFFECTS = ("no-spans", "no-join", "other")


@dataclass(frozen=True)
class Gap:
    id: str
    components: tuple[str, ...]
    description: str
    upstream: str
    effect: str = "other"  # "no-spans", "no-join" or "other"
    releases: tuple[GapRelease, ...] = ()  # which projects' releases have it, and which fixed it
    conditions: tuple[str, ...] = ()  # a collector-config gap: the filter conditions it stands for

    @property
    def reason(self) -> str:
        facts = "; ".join(r.facts() for r in self.releases) or "no releases named"
        return f"known gap {self.id}: {self.description} (upstream: {self.upstream}; {facts})"

    def judge(self, run: rel.RunVersions) -> Judgement:
        return rel.judge(self.releases, run)

    def applies_to(self, component: str) -> bool:
        return component in self.components


def parse_gaps(raw: list[Mapping[str, Any]], where: str, components: tuple[str, ...]) -> tuple[Gap, ...]:
    """A profile's known_gaps; ValueError names what is wrong with one."""
    gaps = []
    for item in raw or []:
        if "fixed_in" in item:
            raise ValueError(f"{where}: known gap {item.get('id', '?')}: write `releases:` (a project and its "
                             "fixed_in, never, since or through each), not a free-text fixed_in")
        missing = {"id", "components", "description", "upstream", "releases"} - set(item)
        if missing:
            raise ValueError(f"{where}: known gap {item.get('id', '?')} lacks {', '.join(sorted(missing))}")
        unknown = set(item["components"]) - set(components)
        if unknown:
            raise ValueError(f"{where}: gap {item['id']} names unknown component(s) {sorted(unknown)}")
        effect = item.get("effect", "other")
        if effect not in GAP_EFFECTS:
            raise ValueError(f"{where}: gap {item['id']} has effect {effect!r}; known: {', '.join(GAP_EFFECTS)}")
        releases = rel.parse_gap_releases(item["releases"], item["components"], f"{where}: gap {item['id']}")
        gaps.append(Gap(item["id"], tuple(item["components"]), " ".join(item["description"].split()),
                        item["upstream"], effect, releases, tuple(item.get("conditions") or ())))
    return tuple(gaps)
