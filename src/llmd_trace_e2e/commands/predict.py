"""`llmd-trace-e2e predict`: every traced container a chart renders for some values, as JSON,
from the real chart where it can be had (`"source": "helm"`), else from the emulation.

    llmd-trace-e2e predict --chart llm-d-modelservice@v0.4.6 --values my-values.yaml [--values ...]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from llmd_trace_e2e.deployment.chart_emulation import CHARTS
from llmd_trace_e2e.deployment.chart_render import NAMESPACE, RELEASE, ChartRefused
from llmd_trace_e2e.deployment.charts import predict
from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.deployment.values import deep_merge, read_values_file


def _chart_ref(text: str) -> tuple[str, str]:
    name, sep, version = text.partition("@")
    if not sep or not name or not version:
        raise argparse.ArgumentTypeError(f"{text!r}: give NAME@VERSION, e.g. llm-d-modelservice@v0.4.12")
    return name, version


def _chart_dir(text: str) -> tuple[str, Path]:
    name, sep, folder = text.partition("=")
    if not sep or not name or not folder:
        raise argparse.ArgumentTypeError(f"{text!r}: give NAME=DIR, e.g. llm-d-modelservice=./charts/llm-d-modelservice")
    return name, Path(folder)


def add_parser(sub) -> None:
    p = sub.add_parser("predict", help="the env and args a chart renders for each traced container (JSON)",
                       description=__doc__.splitlines()[0])
    p.add_argument("--chart", required=True, type=_chart_ref, metavar="NAME@VERSION",
                   help=f"one of {', '.join(CHARTS)}, at a release tag (e.g. v0.4.12)")
    p.add_argument("--values", action="append", default=[], type=Path, metavar="FILE",
                   help="values files, merged like helm -f (repeatable)")
    p.add_argument("--chart-dir", action="append", default=[], type=_chart_dir, metavar="NAME=DIR",
                   help="render the chart from this local folder (repeatable)")
    p.add_argument("--release", default=RELEASE, help=f"release name (default {RELEASE})")
    p.add_argument("--namespace", default=NAMESPACE, help=f"namespace (default {NAMESPACE})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    chart, version = args.chart
    dirs = dict(args.chart_dir)
    if chart not in CHARTS and chart not in dirs:
        raise ConfigError(f"unknown chart {chart!r}: give one of {', '.join(CHARTS)}, or its folder with --chart-dir")
    values: dict = {}
    for path in args.values:
        values = deep_merge(values, read_values_file(path))
    try:
        prediction = predict(chart, version, values, release=args.release, namespace=args.namespace, chart_dirs=dirs)
    except ChartRefused as refused:
        print(f"error: {refused}", file=sys.stderr)
        return 1
    json.dump({"chart": chart, "version": version, "source": prediction.source,
               "containers": [c.as_json() for c in prediction.containers]}, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
