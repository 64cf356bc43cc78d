"""The CRDs the kind plan installs, taken from their Go modules (versions.toml [crds.modules]),
which the Go module proxy serves: the API-server dry run needs them without a download from a
release page. Copied out of the module cache into the harness's cache, keyed by module and
version, so a later run reads them from disk.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from llmd_trace_e2e.deployment.chart_render import _go_module_dir  # one way to ask the Go module proxy for a module
from llmd_trace_e2e.runtime.errors import ConfigError, HarnessError
from llmd_trace_e2e.runtime.paths import cache_dir


class CrdsUnavailable(HarnessError):
    pass


@dataclass(frozen=True)
class CrdModule:
    key: str
    module: str
    version: str
    path: str  # a folder of CRD files or one file, inside the module

    def __str__(self) -> str:
        return f"{self.module}@{self.version} {self.path}"


def crd_modules(versions: Mapping[str, Any]) -> list[CrdModule]:
    table = (versions.get("crds") or {}).get("modules") or {}
    if not table:
        raise ConfigError("versions.toml lacks [crds.modules]: pin the Go module each CRD set comes from")
    try:
        return [CrdModule(key, spec["module"], spec["version"], spec["path"]) for key, spec in table.items()]
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"versions.toml [crds.modules]: each entry needs module, version and path ({exc})") from None


def _cached(mod: CrdModule) -> Path:
    return cache_dir() / "crds" / f"{mod.module.replace('/', '_')}@{mod.version}"


def _yaml_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml")) if root.is_dir() else [root]


def crd_files(mod: CrdModule) -> list[Path]:
    """The module's CRD files, from the cache, else from `go mod download` (then cached)."""
    target = _cached(mod)
    if not target.is_dir():
        module_dir, why = _go_module_dir(mod.module, mod.version)
        if module_dir is None:
            raise CrdsUnavailable(f"CRDs {mod.key}: {why}")
        source = module_dir / mod.path
        if not source.exists():
            raise CrdsUnavailable(f"CRDs {mod.key}: {mod.module}@{mod.version} has no {mod.path}: fix versions.toml "
                                  "[crds.modules]")
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".crds-", dir=target.parent))
        try:
            for path in _yaml_files(source):
                dest = staging / (path.relative_to(source) if source.is_dir() else path.name)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, dest)  # the module cache is read-only: plain copies
            os.replace(staging, target)
        except OSError:
            if not target.is_dir():  # not another process that finished first
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return _yaml_files(target)
