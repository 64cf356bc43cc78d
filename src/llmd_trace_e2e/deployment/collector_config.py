"""Collector configs: read a user's (plain, or wrapped in an OpenTelemetryCollector resource)
and check it. How it is made to run here: collector_adapt.py; the paths spans take through it:
collector_paths.py."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.deployment.collector_paths import backend_paths
from llmd_trace_e2e.traces.patterns import SpanPattern


@dataclass(frozen=True)
class CollectorConfig:
    source: str  # file path or description, for messages
    body: dict[str, Any]  # the plain collector config

    def traces_pipelines(self) -> dict[str, dict[str, Any]]:
        pipelines = (self.body.get("service") or {}).get("pipelines") or {}
        return {name: p or {} for name, p in pipelines.items() if name == "traces" or name.startswith("traces/")}

    def filter_conditions(self) -> list[str]:
        """Span conditions of the filter processors that the traces pipelines run."""
        conditions: list[str] = []
        used = {proc for p in self.traces_pipelines().values() for proc in p.get("processors", [])}
        for name, cfg in (self.body.get("processors") or {}).items():
            if name in used and (name == "filter" or name.startswith("filter/")):
                traces = (cfg or {}).get("traces") or {}
                conditions += list(traces.get("span") or []) + list(traces.get("spanevent") or [])
        return conditions

    def filter_patterns(self) -> list[SpanPattern]:
        return [SpanPattern.parse(c) for c in self.filter_conditions()]

    def path_patterns(self) -> list[list[SpanPattern]]:
        """The filter conditions of each path from a receiver to a backend exporter: a span
        reaches the backend when the patterns of any one path all miss it."""
        return [p.patterns() for p in backend_paths(self)]

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.body, sort_keys=False)


# The repo's configs before they were named for what they are: a path to one is refused naming the new.
RENAMED = {"collector.yaml": "guide.yaml", "recommended.yaml": "guide-with-fixes.yaml"}


def read_collector_config(path: Path) -> str:
    path = Path(path)
    if not path.exists() and path.parent.name == "collector" and path.name in RENAMED:
        raise ConfigError(f"{path} was renamed: pass {path.with_name(RENAMED[path.name])}")
    try:
        return path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read collector config {path}: {exc.strerror}") from None


def load_collector_config(path: Path) -> CollectorConfig:
    return parse_collector_config(read_collector_config(path), str(path))


def parse_collector_config(text: str, source: str = "<config>") -> CollectorConfig:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{source} is not valid YAML{where}: fix the syntax and retry") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{source}: expected a collector config (a YAML mapping), got {type(doc).__name__}")
    if doc.get("kind") == "OpenTelemetryCollector":
        doc = (doc.get("spec") or {}).get("config")
        if isinstance(doc, str):  # v1alpha1 resources carry the config as a string
            doc = yaml.safe_load(doc)
        if not isinstance(doc, dict):
            raise ConfigError(f"{source}: OpenTelemetryCollector resource without spec.config")
    config = CollectorConfig(source, doc)
    if not config.traces_pipelines():
        raise ConfigError(f"{source} has no traces pipeline (service.pipelines.traces): "
                          "add one that runs the /metrics filter")
    return config


def repo_collector_config(name: str = "guide.yaml") -> CollectorConfig:
    """The guide's config (default), or another of config/collector/ such as guide-with-fixes.yaml."""
    from llmd_trace_e2e.runtime.paths import config_dir

    return load_collector_config(config_dir() / "collector" / name)
