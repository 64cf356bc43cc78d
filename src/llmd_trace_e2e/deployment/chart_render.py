"""Real renders: the pinned helm's `helm template` of a chart that can be had here, and the
containers it hands each traced role (decode, prefill, routing-proxy, epp).

Where a chart comes from, first match wins:
- a folder given as `--chart NAME=DIR` (`chart_dirs`);
- the GAIE inferencepool chart inside the Go module the Go module proxy serves
  (`sigs.k8s.io/gateway-api-inference-extension@<version>`), copied to the harness's cache and
  stamped with the release's version the way GAIE's release script packages it
  (`helm package --version <tag> --app-version <tag>`), its `file://` library copied into
  `charts/` so nothing is fetched;
- otherwise the chart cannot be had (`chart_source` answers None) and callers use the
  emulation in `charts.py`, which the golden-render contract test holds against real renders.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from llmd_trace_e2e.runtime.errors import ConfigError, HarnessError, ToolMissing
from llmd_trace_e2e.runtime.paths import cache_dir, tool

NAMESPACE = "llmd-trace-e2e"
RELEASE = "trace-e2e"
HELM_TIMEOUT_S = 120.0
GO_DOWNLOAD_TIMEOUT_S = 300.0
ROLES = ("decode", "prefill", "routing-proxy", "epp")

# Charts that live inside a Go module: chart name -> (module path, chart folder in the module).
GO_MODULE_CHARTS = {
    "inferencepool": ("sigs.k8s.io/gateway-api-inference-extension", "config/charts/inferencepool"),
}


class ChartUnavailable(HarnessError):
    def __init__(self, chart: str, version: str, why: str):
        self.chart, self.version, self.why = chart, version, why
        super().__init__(f"{chart} {version} cannot be rendered here: {why}")


class ChartRefused(ConfigError):
    """helm refused the values (schema, `required`, `fail`): `reason` is helm's own text on one line."""

    def __init__(self, chart: str, version: str, reason: str):
        self.chart, self.version, self.reason = chart, version, reason
        self.key = refused_key(reason)
        what = f"refuses {self.key}" if self.key else "refuses these values"
        super().__init__(f"{chart} {version} {what}: {reason}")


def helm_reason(stderr: str) -> str:
    """helm's error text as one line: from its `Error:` line on, whitespace folded."""
    lines = stderr.strip().splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Error:")), 0)
    text = " ".join(line.strip() for line in lines[start:] if line.strip())
    return text.removeprefix("Error:").strip()


def refused_key(reason: str) -> str | None:
    """The dotted values key a schema refusal names (`at '/a/b': additional properties 'c'` -> a.b.c)."""
    match = re.search(r"at '(/[^']*|)': additional properties? '([^']+)'", reason)
    if not match:
        match = re.search(r"at '(/[^']+)'", reason)
        return match.group(1).strip("/").replace("/", ".") if match else None
    head = match.group(1).strip("/").replace("/", ".")
    return f"{head}.{match.group(2)}" if head else match.group(2)


# ---- where a chart can be had ----------------------------------------------------------------


def _go_module_dir(module: str, version: str) -> tuple[Path | None, str]:
    go = shutil.which("go")
    if not go:
        return None, "no `go` on PATH to fetch its Go module"
    try:
        proc = subprocess.run([go, "mod", "download", "-json", f"{module}@{version}"], capture_output=True,
                              text=True, timeout=GO_DOWNLOAD_TIMEOUT_S, cwd=tempfile.gettempdir())
    except subprocess.TimeoutExpired:
        return None, f"`go mod download {module}@{version}` took over {GO_DOWNLOAD_TIMEOUT_S:g}s"
    try:
        info = json.loads(proc.stdout or "{}")
    except json.JSONDecodeError:
        info = {}
    if proc.returncode != 0 or not info.get("Dir"):
        why = info.get("Error") or proc.stderr.strip().splitlines()[-1:] or ["unknown error"]
        return None, f"the Go module proxy does not serve {module}@{version} ({why if isinstance(why, str) else why[0]})"
    return Path(info["Dir"]), ""


def _stamp_release(chart_dir: Path, version: str) -> None:
    """What the release script's `helm package --version V --app-version V` does to Chart.yaml."""
    path = chart_dir / "Chart.yaml"
    meta = yaml.safe_load(path.read_text()) or {}
    meta["version"], meta["appVersion"] = version, version
    path.write_text(yaml.safe_dump(meta, sort_keys=False))


def _vendor_file_dependencies(chart_dir: Path, source_dir: Path) -> None:
    """Copy each `file://` dependency into charts/, as `helm dependency build` would, offline."""
    meta = yaml.safe_load((chart_dir / "Chart.yaml").read_text()) or {}
    for dep in meta.get("dependencies") or []:
        repo = str(dep.get("repository") or "")
        if repo.startswith("file://"):
            library = (source_dir / repo.removeprefix("file://")).resolve()
            shutil.copytree(library, chart_dir / "charts" / library.name)


_unavailable: dict[tuple[str, str], str] = {}  # asked once per process: the answer will not change


def _module_chart(chart: str, version: str) -> tuple[Path | None, str]:
    if (chart, version) in _unavailable:
        return None, _unavailable[(chart, version)]
    found, why = _prepare_module_chart(chart, version)
    if found is None:
        _unavailable[(chart, version)] = why
    return found, why


def _prepare_module_chart(chart: str, version: str) -> tuple[Path | None, str]:
    module, folder = GO_MODULE_CHARTS[chart]
    target = cache_dir() / "charts" / f"{chart}-{version}" / chart
    if (target / "Chart.yaml").exists():
        return target, ""
    module_dir, why = _go_module_dir(module, version)
    if module_dir is None:
        return None, why
    source = module_dir / folder
    if not (source / "Chart.yaml").exists():
        return None, f"{module}@{version} has no chart at {folder}"
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{chart}-", dir=target.parent)) / chart
    try:
        shutil.copytree(source, staging)  # the module cache is read-only: work on a copy
        for path in [staging, *staging.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
        _vendor_file_dependencies(staging, source)
        _stamp_release(staging, version)
        os.replace(staging, target)
    except FileExistsError:
        pass  # another process finished first: its copy is the same
    except OSError as exc:
        return None, f"cannot prepare {target}: {exc}"
    finally:
        shutil.rmtree(staging.parent, ignore_errors=True)
    return target, ""


def locate_chart(chart: str, version: str, chart_dirs: Mapping[str, Path] | None = None) -> tuple[Path | None, str]:
    """(folder, "") where the chart can be had, else (None, why not)."""
    if chart_dirs and chart in chart_dirs:
        folder = Path(chart_dirs[chart])
        if not (folder / "Chart.yaml").exists():
            raise ConfigError(f"--chart {chart}={folder}: no Chart.yaml there; give the chart's own folder")
        return folder, ""
    if chart in GO_MODULE_CHARTS:
        return _module_chart(chart, version)
    return None, (f"no local folder given (--chart {chart}=DIR) and no Go module carries it; "
                  "its chart repository is not reachable from here")


def chart_source(chart: str, version: str, chart_dirs: Mapping[str, Path] | None = None) -> Path | None:
    return locate_chart(chart, version, chart_dirs)[0]


# ---- rendering -------------------------------------------------------------------------------


def render_chart(chart: str, version: str, values: Mapping[str, Any], *, release: str = RELEASE,
                 namespace: str = NAMESPACE, chart_dirs: Mapping[str, Path] | None = None) -> list[dict]:
    """`helm template` with the pinned helm: the rendered documents, in helm's order."""
    folder, why = locate_chart(chart, version, chart_dirs)
    if folder is None:
        raise ChartUnavailable(chart, version, why)
    try:
        helm = tool("helm")
    except ToolMissing as exc:
        raise ChartUnavailable(chart, version, str(exc)) from None
    with tempfile.TemporaryDirectory(prefix="llmd-render-") as scratch:
        values_file = Path(scratch) / "values.json"  # JSON: helm's YAML 1.1 would read a bare `y` as true
        values_file.write_text(json.dumps(dict(values), default=str))
        argv = [str(helm), "template", release, str(folder), "--namespace", namespace, "--values", str(values_file)]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=HELM_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise ChartUnavailable(chart, version, f"helm template took over {HELM_TIMEOUT_S:g}s") from None
    if proc.returncode != 0:
        raise ChartRefused(chart, version, helm_reason(proc.stderr))
    return [doc for doc in yaml.safe_load_all(proc.stdout) if isinstance(doc, dict)]


# ---- the containers a render hands each role -------------------------------------------------


@dataclass(frozen=True)
class RenderedContainer:
    role: str  # decode | prefill | routing-proxy | epp
    name: str
    env: tuple[tuple[str, str], ...]  # render order; valueFrom shown as <fieldRef PATH> etc.
    args: tuple[str, ...]
    command: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"role": self.role, "name": self.name, "env": [list(e) for e in self.env], "args": list(self.args)}

    @property
    def env_dict(self) -> dict[str, str]:
        """Kubernetes semantics: of duplicate names, the last one wins."""
        return dict(self.env)


def env_value(entry: Mapping[str, Any]) -> str:
    if "value" in entry:
        return "" if entry["value"] is None else str(entry["value"])
    source = entry.get("valueFrom") or {}
    for kind, ref in source.items():
        ref = ref or {}
        detail = ref.get("fieldPath") or ref.get("resource") or "/".join(
            str(ref[k]) for k in ("name", "key") if k in ref)
        return f"<{kind} {detail}>"
    return ""


def _container(role: str, spec: Mapping[str, Any]) -> RenderedContainer:
    env = tuple((str(e["name"]), env_value(e)) for e in spec.get("env") or [] if isinstance(e, Mapping))
    return RenderedContainer(role, str(spec.get("name", "")), env, tuple(str(a) for a in spec.get("args") or []),
                             tuple(str(c) for c in spec.get("command") or []))


def containers_of(documents: Iterable[Mapping[str, Any]]) -> list[RenderedContainer]:
    """The traced containers of rendered Deployments: the EPP, vLLM of each role, the routing proxy."""
    found = []
    for doc in documents:
        if not isinstance(doc, Mapping) or doc.get("kind") != "Deployment":
            continue
        pod = ((doc.get("spec") or {}).get("template") or {})
        labels = ((pod.get("metadata") or {}).get("labels") or {})
        spec = pod.get("spec") or {}
        role = labels.get("llm-d.ai/role")
        for c in spec.get("initContainers") or []:
            if c.get("name") == "routing-proxy":
                found.append(_container("routing-proxy", c))
        for c in spec.get("containers") or []:
            if c.get("name") == "epp":
                found.append(_container("epp", c))
            elif role in ("decode", "prefill"):
                found.append(_container(role, c))
    return found
