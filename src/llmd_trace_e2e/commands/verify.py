"""`verify-collector-config`: a user's collector config run for real (a local collector and
Jaeger) and probed with canaries; the verdict itself is traffic/filter_verdict.py."""
from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Sequence

from llmd_trace_e2e.deployment.collector_config import CollectorConfig
from llmd_trace_e2e.deployment.collector_paths import is_filter
from llmd_trace_e2e.platforms.local.pipeline import TracePipeline
from llmd_trace_e2e.runtime.procs import Supervisor
from llmd_trace_e2e.traffic.filter_verdict import VerifyReport, canary_report


def verify_collector_config(config: CollectorConfig, run_dir: Path | None = None) -> VerifyReport:
    with tempfile.TemporaryDirectory(prefix="verify-collector-") as tmp:
        folder = run_dir or Path(tmp)
        with Supervisor(folder) as supervisor:
            pipeline = TracePipeline.start(supervisor, folder, config)
            return canary_report(pipeline.collector.otlp_grpc_endpoint, pipeline.backend.client(), config,
                                 notes=pipeline.collector.notes)


def without_filters(config: CollectorConfig) -> CollectorConfig:
    """The same config with its filter processors taken out of every pipeline (a positive control)."""
    body = copy.deepcopy(config.body)
    for pipeline in (body.get("service") or {}).get("pipelines", {}).values():
        procs: Sequence[str] = pipeline.get("processors", [])
        pipeline["processors"] = [p for p in procs if not is_filter(p)]
    return CollectorConfig(f"{config.source} without filters", body)
