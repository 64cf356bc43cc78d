"""The `llmd-trace-e2e` command. Expected errors print one line naming the fix, never a traceback."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import HarnessError
from .procs import terminate_on_sigterm


def _verify(args: argparse.Namespace) -> int:
    from .collector_config import load_collector_config
    from .verify import verify_collector_config

    config = load_collector_config(args.file)
    patterns = config.filter_conditions()
    print(f"config: {config.source}; filter conditions in its traces pipelines: {len(patterns)}")
    report = verify_collector_config(config, args.run_dir)
    print(report.table())
    if report.passed:
        print("verdict: PASS: every /metrics canary was dropped and every ordinary span arrived")
        return 0
    leaked = report.leaked()
    reason = f"/metrics spans got through: {', '.join(leaked)}" if leaked else "ordinary spans were dropped"
    print(f"verdict: FAIL: {reason}")
    return 1


def _kind(args: argparse.Namespace, rest: list[str]) -> int:
    from .kind.cli import kind_main

    return kind_main(rest)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmd-trace-e2e", description="End-to-end checks of llm-d's tracing.")
    sub = parser.add_subparsers(dest="command", required=True)
    verify = sub.add_parser("verify-collector-config",
                            help="run a collector config for real and check it drops /metrics spans")
    verify.add_argument("file", type=Path, help="a collector config, or an OpenTelemetryCollector resource")
    verify.add_argument("--run-dir", type=Path, default=None, help="keep configs and logs here")
    verify.set_defaults(func=_verify)
    kind = sub.add_parser("kind", help="the kind platform: plan, up, down (see `kind --help`)", add_help=False)
    kind.set_defaults(func=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    terminate_on_sigterm()
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    try:
        if args.command == "kind":
            return _kind(args, rest)
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        return args.func(args)
    except HarnessError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; everything the harness started was stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
