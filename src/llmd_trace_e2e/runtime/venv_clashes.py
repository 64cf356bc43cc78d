"""Files that two distributions both write into a venv. Such a venv depends on install order:
the wheel unpacked last wins, and uv's parallel install picks another order on another machine
(xds-protos once overwrote opentelemetry-proto's common_pb2.py, and a fresh clone failed).

Run: python -m llmd_trace_e2e.runtime.venv_clashes VENV [VENV ...]   (exit 1 when any venv has a clash)
"""
from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Clash:
    path: str  # relative to site-packages
    distributions: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.path} is written by {' and '.join(self.distributions)}"


def site_packages(venv: Path) -> Path:
    found = sorted(Path(venv).glob("lib/python3*/site-packages"))
    if not found:
        raise FileNotFoundError(f"no site-packages under {venv}: is it a venv?")
    return found[0]


def clashes(venv: Path) -> list[Clash]:
    """Every file (an empty namespace __init__.py aside) that more than one RECORD lists."""
    site = site_packages(venv)
    owners: dict[str, set[str]] = defaultdict(set)
    for record in site.glob("*.dist-info/RECORD"):
        dist = record.parent.name.removesuffix(".dist-info")
        for line in record.read_text(errors="replace").splitlines():
            path = line.split(",", 1)[0]
            if path and not path.startswith("..") and ".dist-info/" not in path and not path.endswith(".pyc"):
                owners[path].add(dist)
    return [Clash(path, tuple(sorted(dists))) for path, dists in sorted(owners.items())
            if len(dists) > 1 and not _empty_init(site / path)]


def _empty_init(path: Path) -> bool:
    return path.name == "__init__.py" and (not path.exists() or not path.read_bytes().strip())


def summary(venv: Path, found: list[Clash]) -> str:
    pairs: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for clash in found:
        pairs[clash.distributions].append(clash.path)
    lines = [f"{venv}: {len(found)} file(s) written by more than one distribution (the venv depends on install order):"]
    lines += [f"  {len(paths)} file(s) from {' + '.join(dists)}, e.g. {paths[0]}" for dists, paths in pairs.items()]
    lines.append("  fix: drop one of the distributions, or install it into a venv of its own")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m llmd_trace_e2e.runtime.venv_clashes VENV [VENV ...]", file=sys.stderr)
        return 2
    status = 0
    for venv in map(Path, argv):
        try:
            found = clashes(venv)
        except FileNotFoundError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        if found:
            print(summary(venv, found), file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
