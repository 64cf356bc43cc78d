#!/usr/bin/env python3
"""Build the Go programs pinned in versions.toml into .bin/ (stdlib only: runs before the venv).

Each binary is cached outside the checkout under a key of tool, version, Go version and
build inputs, so a fresh clone on the same machine gets it by a copy, not a build.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".bin"
MANIFEST = ROOT / "config" / "collector" / "builder.yaml"


class BuildError(Exception):
    pass


def cache_root() -> Path:
    base = os.environ.get("LLMD_TRACE_E2E_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "llmd-trace-e2e"
    )
    return Path(base) / "tools"


def go_version() -> str:
    if shutil.which("go") is None:
        raise BuildError("the Go toolchain is not on PATH: install Go 1.26+ (https://go.dev/doc/install) and re-run `make tools`")
    return subprocess.run(["go", "env", "GOVERSION"], check=True, capture_output=True, text=True).stdout.strip()


def build_env(gobin: Path | None = None) -> dict[str, str]:
    env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-buildvcs=false -trimpath")
    if gobin:
        env["GOBIN"] = str(gobin)
    return env


def run(cmd: list[str], cwd: Path, env: dict[str, str], what: str) -> None:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise BuildError(f"building {what} failed: `{' '.join(cmd)}` exited {proc.returncode}\n{tail}")


def build_otelcol(spec: dict, out: Path, work: Path) -> None:
    version = spec["version"]
    run(["go", "install", f"{spec['builder']}@{version}"], work, build_env(work), f"the collector builder {version}")
    manifest = work / "builder.yaml"
    manifest.write_text(
        MANIFEST.read_text()
        .replace("{version}", version)
        .replace("dist:\n", f"dist:\n  output_path: {work / 'dist'}\n  version: {version.lstrip('v')}\n", 1)
    )
    run([str(work / "builder"), "--config", str(manifest)], work, build_env(), f"otelcol {version}")
    shutil.copy2(work / "dist" / "otelcol", out)


def build_go_tool(module: str, version: str, out: Path, work: Path) -> None:
    """`go get -tool` in a throwaway module: works for modules whose path lacks their major
    version suffix (Jaeger v2) as well as for ordinary ones."""
    run(["go", "mod", "init", "llmd-trace-e2e/tools"], work, build_env(), module)
    run(["go", "get", "-tool", f"{module}@{version}"], work, build_env(), f"{module}@{version}")
    run(["go", "build", "-ldflags=-s -w", "-o", str(out), module], work, build_env(), f"{module}@{version}")


def cache_key(name: str, spec: dict, gover: str) -> str:
    h = hashlib.sha256(repr(sorted(spec.items())).encode() + gover.encode())
    if name == "otelcol":
        h.update(MANIFEST.read_bytes())
    return f"{name}-{spec['version']}-{h.hexdigest()[:12]}"


def ensure(name: str, spec: dict, gover: str) -> tuple[str, float]:
    cached = cache_root() / cache_key(name, spec, gover) / name
    target = BIN / name
    start = time.monotonic()
    how = "cached"
    if not cached.exists():
        how = "built"
        cached.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f"build-{name}-") as tmp:
            partial = cached.with_suffix(".partial")
            if name == "otelcol":
                build_otelcol(spec, partial, Path(tmp))
            else:
                build_go_tool(spec["module"], spec["version"], partial, Path(tmp))
            partial.rename(cached)
    if not (target.exists() and target.stat().st_ino == cached.stat().st_ino):
        BIN.mkdir(exist_ok=True)
        tmp_target = target.with_suffix(".new")
        tmp_target.unlink(missing_ok=True)
        try:
            os.link(cached, tmp_target)
        except OSError:
            shutil.copy2(cached, tmp_target)
        tmp_target.replace(target)
    return how, time.monotonic() - start


def main() -> int:
    specs = tomllib.loads((ROOT / "versions.toml").read_text())["go_tools"]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tools", nargs="*", help=f"which to build (default: all of {', '.join(specs)})")
    args = parser.parse_args()
    unknown = [t for t in args.tools if t not in specs]
    if unknown:
        print(f"error: unknown tool(s) {', '.join(unknown)}; known: {', '.join(specs)}", file=sys.stderr)
        return 2
    try:
        gover = go_version()
        for name in args.tools or list(specs):
            spec = specs[name]
            print(f"tools: {name} {spec['version']} ...", end="", flush=True)
            how, took = ensure(name, spec, gover)
            print(f" {how} in {took:.1f}s", flush=True)
    except BuildError as err:
        print(f"\nerror: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
