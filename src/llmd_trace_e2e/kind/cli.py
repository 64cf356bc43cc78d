"""`llmd-trace-e2e kind`: plan, bring up or tear down the kind platform.

    llmd-trace-e2e kind --plan [--profile P] [--gpu] [--pd] [--values F]...
    llmd-trace-e2e kind up [same options] [--keep-cluster] [--load-image IMG]...
    llmd-trace-e2e kind down [--cluster-name N]
"""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from ..errors import HarnessError
from .options import KindOptions, Timeouts


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="llmd-trace-e2e kind", description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", nargs="?", choices=["up", "down"], help="bring the platform up, or delete its cluster")
    p.add_argument("--plan", action="store_true",
                   help="print every command, manifest and values file the run would apply, then exit (no Docker)")
    p.add_argument("--profile", default="latest", help="version profile from config/profiles.yaml (default: latest)")
    p.add_argument("--gpu", action="store_true", help="GPU node, NVIDIA device plugin and a small real model")
    p.add_argument("--pd", action="store_true", help="prefill/decode disaggregation (needs --gpu, two GPUs)")
    p.add_argument("--values", action="append", default=[], type=Path, metavar="FILE",
                   help="values layered on the charts, like helm -f (repeatable); EPP-chart keys "
                        "(inferenceExtension, inferencePool, router, provider, ...) go to the EPP chart, "
                        "the rest to llm-d-modelservice")
    p.add_argument("--helmfile", type=Path, help="deploy llm-d with a guide's helmfile, tracing values layered on")
    p.add_argument("--pool", help="the InferencePool the --helmfile creates (the HTTPRoute's backend)")
    p.add_argument("--cluster-name", default="llmd-trace-e2e")
    p.add_argument("--keep-cluster", action="store_true", help="keep the cluster, also when set-up fails")
    p.add_argument("--use-existing-cluster", action="store_true",
                   help="deploy into a cluster you have (needs --kubeconfig and/or --context)")
    p.add_argument("--kubeconfig", type=Path, help="with --use-existing-cluster")
    p.add_argument("--context", help="with --use-existing-cluster")
    p.add_argument("--load-image", action="append", default=[], metavar="IMAGE",
                   help="`kind load` a locally built image into the nodes (repeatable)")
    p.add_argument("--artifacts", type=Path, default=Path("artifacts"), help="run folder root (default: artifacts)")
    p.add_argument("--timeout", action="append", default=[], metavar="NAME=SECONDS",
                   help="override one named timeout (repeatable)")
    return p


def options_from_args(args: argparse.Namespace) -> KindOptions:
    return KindOptions(
        profile=args.profile, gpu=args.gpu, pd=args.pd, values_files=tuple(args.values), helmfile=args.helmfile,
        pool=args.pool, cluster_name=args.cluster_name, keep_cluster=args.keep_cluster,
        use_existing_cluster=args.use_existing_cluster, kubeconfig=args.kubeconfig, context=args.context,
        load_images=tuple(args.load_image), artifacts_dir=args.artifacts,
        timeouts=Timeouts().with_overrides(args.timeout))


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
            from .plan import build_plan

            sys.stdout.write(build_plan(opts).render())
            return 0
        from . import runner

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
