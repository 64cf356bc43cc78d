"""The `llmd-trace-e2e` command. Expected errors print one line naming the fix, never a traceback."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from llmd_trace_e2e.platforms.choose import PLATFORMS
from llmd_trace_e2e.runtime.errors import HarnessError
from llmd_trace_e2e.runtime.procs import terminate_on_sigterm


def _verify(args: argparse.Namespace) -> int:
    from llmd_trace_e2e.deployment.collector_config import load_collector_config
    from llmd_trace_e2e.commands.verify import verify_collector_config

    config = load_collector_config(args.file)
    patterns = config.filter_conditions()
    print(f"config: {config.source}; filter conditions in its traces pipelines: {len(patterns)}")
    report = verify_collector_config(config, args.run_dir)
    print("\n".join(f"run as written, except: {note}" for note in report.notes))
    print("\n".join(f"path to the backend: {p.describe()}" for p in report.paths))
    print(report.table())
    print("\n".join(report.verdict()))
    return 0 if report.passed else 1


def _delegate(command: str, rest: list[str]) -> int:
    """Subcommands with parsers of their own: each platform's (platforms/choose.py), bench, soak."""
    if command in PLATFORMS:
        return PLATFORMS[command].command(rest)
    if command == "bench":
        from llmd_trace_e2e.commands.bench import bench_main as sub
    else:
        from llmd_trace_e2e.commands.soak import soak_main as sub
    return sub(rest)


DELEGATED = {
    **{name: entry.command_help for name, entry in PLATFORMS.items()},
    "bench": "time to verdict, span visibility latency and tracing overhead on the local platform",
    "soak": "run the local-platform suite N times and report each failure's reason",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmd-trace-e2e", description="End-to-end checks of llm-d's tracing.")
    sub = parser.add_subparsers(dest="command", required=True)
    verify = sub.add_parser("verify-collector-config",
                            help="run a collector config for real and check it drops /metrics spans")
    verify.add_argument("file", type=Path, help="a collector config, or an OpenTelemetryCollector resource")
    verify.add_argument("--run-dir", type=Path, default=None, help="keep configs and logs here")
    verify.set_defaults(func=_verify)
    from llmd_trace_e2e.commands.pins import add_parser as add_pins
    from llmd_trace_e2e.commands.predict import add_parser as add_predict

    add_predict(sub)
    add_pins(sub)
    for name, text in DELEGATED.items():
        sub.add_parser(name, help=text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    terminate_on_sigterm()
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    try:
        if args.command in DELEGATED:
            return _delegate(args.command, rest)
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
