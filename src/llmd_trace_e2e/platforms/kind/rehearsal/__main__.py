"""`python -m llmd_trace_e2e.platforms.kind.rehearsal`: see run.py."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from llmd_trace_e2e.runtime.errors import HarnessError
from llmd_trace_e2e.runtime.procs import terminate_on_sigterm


def main(argv: list[str] | None = None) -> int:
    from llmd_trace_e2e.platforms.kind.rehearsal import run

    p = argparse.ArgumentParser(prog="python -m llmd_trace_e2e.platforms.kind.rehearsal",
                                description=run.__doc__.splitlines()[0])
    p.add_argument("--profile", action="append", default=[], help="a kind profile (default: every one that plans here)")
    p.add_argument("--artifacts", type=Path, default=Path("artifacts/rehearsal"), metavar="DIR")
    p.add_argument("--no-faults", action="store_true", help="leave out the four failure rehearsals")
    args = p.parse_args(argv)
    terminate_on_sigterm()
    try:
        report = run.rehearse(args.profile, args.artifacts, faults=() if args.no_faults else run.FAULTS)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    text = report.render()
    (args.artifacts / "rehearsal.md").write_text(text)
    print(text)
    bad = [p.profile for p in report.profiles if not p.ok]
    if bad:
        print(f"error: the rehearsal of {', '.join(bad)} failed (report: {args.artifacts / 'rehearsal.md'})",
              file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
