"""Where the repo's data, built tools and caches live."""
from __future__ import annotations

import os
from pathlib import Path

from llmd_trace_e2e.runtime.errors import ToolMissing


def repo_root() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "versions.toml").exists():
            return parent
    raise RuntimeError(f"versions.toml not found above {here}: is the package installed from its checkout?")


def config_dir() -> Path:
    return repo_root() / "config"


def cache_dir() -> Path:
    base = os.environ.get("LLMD_TRACE_E2E_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "llmd-trace-e2e"
    )
    return Path(base)


def bin_dir() -> Path:
    """Where `make tools` puts the programs it builds (.bin/ unless LLMD_TRACE_E2E_BIN says otherwise)."""
    return Path(os.environ.get("LLMD_TRACE_E2E_BIN") or repo_root() / ".bin")


def tool(name: str) -> Path:
    """A Go program built by `make tools`."""
    path = bin_dir() / name
    if not os.access(path, os.X_OK):
        raise ToolMissing(f"{name} not found at {path}: run `make tools` to build it")
    return path
