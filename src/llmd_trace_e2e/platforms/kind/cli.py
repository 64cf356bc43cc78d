"""`llmd-trace-e2e kind`: plan, bring up or tear down the kind platform.

    llmd-trace-e2e kind --plan [--profile P] [--gpu] [--pd] [--values F]...
    llmd-trace-e2e kind up [same options] [--keep-cluster] [--load-image IMG]...
    llmd-trace-e2e kind down [--cluster-name N]
"""
from __future__ import annotations

import argparse
import signal
import sys

from llmd_trace_e2e.runtime.errors import HarnessError
from llmd_trace_e2e.platforms.options import KIND, RUN, RunOptions, add_options
from llmd_trace_e2e.platforms.kind.options import KindOptions
from llmd_trace_e2e.platforms.kind.platform import kind_options


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="llmd-trace-e2e kind", description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", nargs="?", choices=["up", "down"], help="bring the platform up, or delete its cluster")
    p.add_argument("--plan", action="store_true",
                   help="print every command, manifest and values file the run would apply, then exit (no Docker)")
    add_options(p.add_argument, (*RUN, *KIND))
    return p


def options_from_args(args: argparse.Namespace) -> KindOptions:
    return kind_options(RunOptions.read(lambda dest: getattr(args, dest, None)))


def _terminate_as_interrupt(signum, frame):  # SIGTERM (CI cancel) takes the same teardown path as Ctrl-C
    raise KeyboardInterrupt(f"signal {signum}")


def kind_main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.plan and not args.action:
        parser.print_usage(sys.stderr)
        print("error: give --plan, up or down", file=sys.stderr)
        return 2
    try:
        opts = options_from_args(args)
        if args.plan:
            from llmd_trace_e2e.platforms.kind.plan import build_plan

            sys.stdout.write(build_plan(opts).render())
            return 0
        from llmd_trace_e2e.platforms.kind import runner

        signal.signal(signal.SIGTERM, _terminate_as_interrupt)
        if args.action == "up":
            runner.up(opts)
        else:
            runner.down(opts)
        return 0
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if not args.action or args.plan else 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(kind_main())
