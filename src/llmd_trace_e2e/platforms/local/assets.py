"""The vLLM venv and the tiny generated model, built once and cached outside the checkout,
keyed by the content of their inputs: nothing is rebuilt when nothing changed.

The venv's bytecode is compiled once too: uv installs no .pyc files, and without them each of
vLLM's three processes (API server, engine core, worker) compiles torch's and vLLM's sources
again at every start, or every time where PYTHONDONTWRITEBYTECODE is set. And so is what vLLM
learns by inspecting the model's class (its VLLM_CACHE_ROOT/modelinfos cache, checked by vLLM
against its own source's hash): without it each start inspects the class in one more process
that imports vLLM and torch again."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from llmd_trace_e2e.runtime.errors import HarnessError
from llmd_trace_e2e.runtime.paths import cache_dir, config_dir, repo_root

_VLLM_INPUTS = ("vllm-requirements.txt", "vllm-overrides.txt", "vllm-excludes.txt")


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()[:12]


def vllm_env_dir() -> Path:
    inputs = [config_dir() / "python" / name for name in _VLLM_INPUTS]
    return cache_dir() / f"vllm-venv-{_digest(inputs)}"


def vllm_python() -> Path:
    python = vllm_env_dir() / "bin" / "python"
    if not python.exists():
        raise HarnessError(f"the vLLM venv is missing ({vllm_env_dir()}): run `make assets`")
    return python


def model_script() -> Path:
    return repo_root() / "scripts" / "make_tiny_model.py"


def model_dir() -> Path:
    return cache_dir() / f"tiny-llama-{_digest([model_script()])}"


def _uv() -> str:
    beside = Path(sys.executable).parent / "uv"
    found = str(beside) if beside.exists() else shutil.which("uv")
    if not found:
        raise HarnessError("uv not found: run `make venv` (it installs uv into .venv)")
    return found


def _run(cmd: list, what: str, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
        raise HarnessError(f"{what} failed (exit {proc.returncode}):\n{tail}")


def ensure_vllm_env() -> tuple[str, float]:
    target = vllm_env_dir()
    if (target / ".complete").exists():
        return "cached", 0.0
    start = time.monotonic()
    # Scripts in a venv name its path, so it is built in place; the stamp marks it complete.
    shutil.rmtree(target, ignore_errors=True)
    py = config_dir() / "python"
    _run([_uv(), "venv", "-q", "--python", sys.executable, target], "creating the vLLM venv")
    _run([_uv(), "pip", "install", "-q", "--python", target / "bin" / "python",
          "-r", py / "vllm-requirements.txt", "--overrides", py / "vllm-overrides.txt",
          "--excludes", py / "vllm-excludes.txt"], "installing vLLM into its venv")
    (target / ".complete").touch()
    return "built", time.monotonic() - start


def ensure_bytecode() -> tuple[str, float]:
    target = vllm_env_dir()
    stamp = target / ".bytecode"
    if stamp.exists():
        return "cached", 0.0
    start = time.monotonic()
    # The result is ignored: a file that does not compile (a package's Python 2 leftovers, test
    # templates) would fail the same way when imported, and nothing imports it.
    _run([vllm_python(), "-c", "import compileall, sys, sysconfig; "
          "compileall.compile_dir(sysconfig.get_paths()['purelib'], quiet=2, workers=0); sys.exit(0)"],
         "compiling the vLLM venv's bytecode")
    took = time.monotonic() - start
    stamp.write_text(f"{took:.1f}\n")  # the bench reports it among the set-up steps
    return "built", took


def ensure_model() -> tuple[str, float]:
    target = model_dir()
    if (target / ".complete").exists():
        return "cached", 0.0
    start = time.monotonic()
    _run([vllm_python(), model_script(), target], "generating the tiny model")
    return "built", time.monotonic() - start


def vllm_cache_seed() -> Path:
    """A VLLM_CACHE_ROOT holding vLLM's modelinfos for the tiny model, made at set-up; each run
    copies it into its own private cache root (local/vllm.py)."""
    return vllm_env_dir() / ".vllm-cache"


def ensure_modelinfo() -> tuple[str, float]:
    target = vllm_cache_seed()
    if (target / ".complete").exists():
        return "cached", 0.0
    start = time.monotonic()
    shutil.rmtree(target, ignore_errors=True)
    [arch] = json.loads((model_dir() / "config.json").read_text())["architectures"]
    _run([vllm_python(), "-c", "from vllm.model_executor.models.registry import ModelRegistry; "
          f"ModelRegistry.models[{arch!r}].inspect_model_cls()"],
         "caching vLLM's model-class inspection", env=dict(os.environ, VLLM_CACHE_ROOT=str(target)))
    if not any((target / "modelinfos").glob("*.json")):
        raise HarnessError(f"vLLM wrote no modelinfos cache under {target}: the vLLM release changed its cache layout")
    took = time.monotonic() - start
    (target / ".complete").write_text(f"{took:.1f}\n")  # the bench reports it among the set-up steps
    return "built", took


def main() -> int:
    try:
        for name, step in (("vLLM venv", ensure_vllm_env), ("vLLM bytecode", ensure_bytecode),
                           ("tiny model", ensure_model), ("vLLM model inspection", ensure_modelinfo)):
            how, took = step()
            print(f"assets: {name}: {how}" + (f" in {took:.1f}s" if how == "built" else ""), flush=True)
    except HarnessError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
