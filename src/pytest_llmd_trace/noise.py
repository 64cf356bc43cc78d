"""How the suite reads the run's collector filter: its conditions, and the known gaps they leave."""
from __future__ import annotations

from datetime import timedelta

import pytest

from llmd_trace_e2e.traffic.canaries import CANARY_SERVICE, barrier, path_copies
from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.traffic.filter_verdict import noise_gap_reason

NOISE_WAIT_S = 60.0  # a scrape every 2 s; vLLM's span exporter batches for 5 s


def run_patterns(platform):
    """The run's filter conditions as the harness evaluates them; None when it cannot."""
    try:
        return platform.collector_config.filter_patterns()
    except ConfigError:
        return None


def run_path_patterns(platform):
    """The filter conditions of each path of the run's collector to the backend; None when the
    harness cannot evaluate them."""
    try:
        return platform.collector_config.path_patterns()
    except ConfigError:
        return None


def config_source(platform) -> str:
    return platform.collector_config.source


def declare_known_noise_gap(request, platform, group: str) -> None:
    """A strict expected failure when the run's conditions leave this noise through (a known gap)."""
    reason = noise_gap_reason(platform.profile, run_path_patterns(platform), group)
    if reason:
        request.applymarker(pytest.mark.xfail(reason=reason, strict=True))


def components_spans(spans):
    """Spans the components made, without the harness's own canaries."""
    return [s for s in spans if s.service != CANARY_SERVICE]


def tapped_components_spans(span_tap):
    """What the components sent the collector, before its filter (the `span_tap` fixture's)."""
    return components_spans(span_tap.unfiltered_spans())


def stored_spans_since_start(platform):
    """What the components' spans the backend stored since the platform started."""
    return components_spans(platform.traces.all_spans(platform.started_at - timedelta(minutes=1)))


def barrier_on_every_path(platform):
    """A span through the run's collector, awaited in the trace backend once per path to it."""
    barrier(platform.collector_otlp_grpc, platform.traces, copies=path_copies(platform.collector_config))
