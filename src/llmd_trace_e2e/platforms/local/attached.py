"""The suite against a stack `llmd-trace-e2e local up` left running (`pytest e2e --attach`):
the Platform protocol (platform.py) from the stack's state file. Variants are applied by the
stack's own server (its control endpoint runs LocalPlatform.apply: only what the values change
restarts), and put back at the end of the session."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator, Mapping

import requests

from llmd_trace_e2e.deployment.collector_config import load_collector_config, repo_collector_config
from llmd_trace_e2e.runtime.diagnose import Diagnosis, Finding, Sources
from llmd_trace_e2e.runtime.errors import ConfigError, HarnessError
from llmd_trace_e2e.platforms.base import SharedPlatformParts
from llmd_trace_e2e.platforms.options import COLLECTOR_CONFIG, PROFILE, VALUES
from llmd_trace_e2e.platforms.local.pipeline import FILTERED_SPANS, tap_spans, telemetry_counter
from llmd_trace_e2e.deployment.profiles import load_profile
from llmd_trace_e2e.deployment.traceability import check_traceable
from llmd_trace_e2e.traces.backends import query_client
from llmd_trace_e2e.traces.model import Span
from llmd_trace_e2e.deployment.values import deep_merge
from llmd_trace_e2e.platforms.local.diagnosis import TraceLedger
from llmd_trace_e2e.platforms.local.launches import EXPORT_BATCH_DELAY_MS
from llmd_trace_e2e.platforms.local.stack import APPLY_TIMEOUT_S
from llmd_trace_e2e.platforms.local.state import StackState, running_state, state_path
from llmd_trace_e2e.platforms.local.vllm import SERVED_MODEL


class StackUnreachable(HarnessError):
    pass


class StackDiagnosis:
    """The stack server's own diagnosis (processes, restarts, the collector's export errors)."""

    component = "local stack"

    def __init__(self, control_url: str):
        self.control_url = control_url

    def findings(self) -> list[Finding]:
        doc = _call("GET", f"{self.control_url}/diagnosis", timeout_s=30)
        return [Finding(f["component"], f["summary"], tuple(f.get("evidence") or ())) for f in doc["findings"]]


def _call(method: str, url: str, body: Any = None, timeout_s: float = 30.0) -> dict:
    try:
        resp = requests.request(method, url, json=body, timeout=timeout_s)
    except requests.RequestException as exc:
        raise StackUnreachable(f"the local stack's server does not answer at {url} ({type(exc).__name__}): "
                               "check it with `llmd-trace-e2e local status`") from None
    doc = resp.json() if resp.headers.get("Content-Type") == "application/json" else {"error": resp.text[:500]}
    if resp.status_code != 200:
        raise HarnessError(f"the local stack's server answered {resp.status_code} to {method} {url}: {doc.get('error')}")
    return doc


class AttachedPlatform(SharedPlatformParts):
    name = "local"
    model = SERVED_MODEL
    export_batch_delay_s = EXPORT_BATCH_DELAY_MS / 1000  # `local up` started them as LocalPlatform does

    def __init__(self, state: StackState, path: Path):
        self.state, self.state_file = state, path
        self.profile = replace(load_profile(state.profile), absent=dict(state.absent), versions=dict(state.shown_versions))
        for part, (project, version, source) in state.brought_parts.items():
            self.profile = self.profile.with_part(part, project, version, source)
        self.baseline, self.values = dict(state.baseline), dict(state.values)
        self.artifacts = Path(state.run_dir)
        self.started_at = datetime.fromisoformat(state.started_at)
        self.gateway_url = state.gateway_url
        self.collector_otlp_grpc = state.collector_otlp_grpc
        self.collector_config = load_collector_config(Path(state.collector_config)) if state.collector_config \
            else repo_collector_config()
        self.traces = query_client(state.trace_query_url, state.trace_backend)
        self.timings = {"stack ready (local up)": state.ready_after_s}

    def unfiltered_spans(self) -> list[Span]:
        return tap_spans(Path(self.state.tap_file))

    def filtered_span_count(self) -> float:
        return telemetry_counter(self.state.collector_telemetry_url, FILTERED_SPANS)

    def diagnosis(self) -> Diagnosis:
        return Sources(StackDiagnosis(self.state.control_url), TraceLedger(self.traces))

    def apply(self, values: Mapping[str, Any]) -> None:
        """Ask the stack's server to run these values (it restarts only what they change)."""
        doc = _call("POST", f"{self.state.control_url}/values", dict(values), timeout_s=APPLY_TIMEOUT_S + 10)
        self.values = doc["values"]

    def apply_variant(self, overlay: Mapping[str, Any], on_purpose: str = "") -> None:
        values = deep_merge(self.baseline, overlay)
        check_traceable(values, self.profile, on_purpose)
        self.apply(values)

    def reset(self) -> None:
        if self.values != self.baseline:
            self.apply(self.baseline)

    @staticmethod
    def check_options(options) -> None:
        """A live stack for --artifacts (a missing or stale state file fails in one line naming the fix)."""
        given = [option.flag for option, value in ((PROFILE, options.profile), (VALUES, options.values_files),
                                                   (COLLECTOR_CONFIG, options.collector_config)) if value]
        if given:
            raise ConfigError(f"--attach runs against the stack as `local up` started it: {', '.join(given)} "
                              "belong to `llmd-trace-e2e local up`")
        running_state(state_path(options.artifacts))

    @classmethod
    @contextmanager
    def running(cls, options) -> Iterator["AttachedPlatform"]:
        path = state_path(options.artifacts)
        platform = cls(running_state(path), path)
        _call("GET", f"{platform.state.control_url}/health", timeout_s=5)
        try:
            yield platform
        finally:  # the stack goes back to its own values for whoever uses it next
            platform.reset()
