"""Helm values, as both platforms read them: merged like `helm -f`, the tracing keys checked
against the profile's chart versions, and the guide's tracing block for each chart."""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Mapping

import yaml

from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.deployment.kustomize_modelserver import KustomizeValuesError, check_block
from llmd_trace_e2e.deployment.profiles import Profile, TracingSchema

# The tracing guide's default endpoint: the collector Service the run deploys answers there.
COLLECTOR_ENDPOINT = "http://opentelemetry-collector.monitoring.svc.cluster.local:4317"
SAMPLER = "parentbased_traceidratio"
SAMPLER_ARG = "1.0"  # parent-based sampling: tests must sample everything at the root

# Where each chart family reads tracing values, across versions: a file that uses another
# version's place is refused rather than silently ignored by the chart.
KNOWN_TRACING_PATHS = {"modelservice": ("global.tracing", "tracing"),
                       "epp": ("inferenceExtension.tracing", "router.tracing")}


# Every key of the guide's tracing blocks (the Global and Gateway Tracing Options).
GUIDE_KEYS = {"modelservice": ("enabled", "otlpEndpoint", "sampling.sampler", "sampling.samplerArg",
                               "serviceNames.vllmDecode", "serviceNames.vllmPrefill", "serviceNames.routingProxy",
                               "vllm.collectDetailedTraces"),
              "epp": ("enabled", "otelExporterEndpoint", "sampling.sampler", "sampling.samplerArg")}


class ValuesError(ConfigError):
    pass


def nest(dotted: str, value: Any) -> dict[str, Any]:
    for part in reversed(dotted.split(".")):
        value = {part: value}
    return value


def lookup(values: Mapping[str, Any], dotted: str, default: Any = None) -> Any:
    node: Any = values
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


def leaves(node: Mapping[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in node.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out += leaves(value, path + ".")
        else:
            out.append(path)
    return out


def tracing_values(profile: Profile, chart: str) -> dict[str, Any]:
    """The tracing block the guide documents, with 100% sampling, at this profile's key path,
    less the keys the profile's chart version does not have (llm-d-modelservice v0.4.5-v0.4.6
    refuse serviceNames.routingProxy, so the guide's own block fails there)."""
    schema = profile.values_schema[chart]
    endpoint = profile.collector_endpoint or COLLECTOR_ENDPOINT
    if chart == "modelservice":
        block = {
            "enabled": True,
            "otlpEndpoint": endpoint,
            "sampling": {"sampler": SAMPLER, "samplerArg": SAMPLER_ARG},
            "serviceNames": {
                "vllmDecode": profile.services["vllm-decode"],
                "vllmPrefill": profile.services["vllm-prefill"],
                "routingProxy": profile.services["routing-proxy"],
            },
            "vllm": {"collectDetailedTraces": "all"},
        }
    else:
        block = {"enabled": True, "otelExporterEndpoint": endpoint,
                 "sampling": {"sampler": SAMPLER, "samplerArg": SAMPLER_ARG}}
    return nest(schema.path, _only(block, set(schema.keys)))


def _only(block: Mapping[str, Any], keep: set[str], prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in block.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            inner = _only(value, keep, path + ".")
            if inner:
                out[key] = inner
        elif path in keep:
            out[key] = value
    return out


def load_values_file(path: Path, profile: Profile) -> dict[str, Any]:
    """One values file, parsed and its tracing keys checked; errors name the file and the fix."""
    doc = read_values_file(path)
    check_tracing_keys(doc, profile, str(path))
    return doc


def read_values_file(path: Path) -> dict[str, Any]:
    """One values file, parsed; errors name the file and the fix."""
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ValuesError(f"cannot read values file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ValuesError(f"values file {path} is not valid YAML{where}: fix its syntax") from None
    doc = doc or {}
    if not isinstance(doc, dict):
        raise ValuesError(f"values file {path} must be a mapping at the top, not {type(doc).__name__}")
    return doc


def merge_values_files(paths: list[Path], profile: Profile, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    merged = dict(base or {})
    for path in paths:
        merged = deep_merge(merged, load_values_file(path, profile))
    return merged


# Top-level keys of the EPP charts and the harness (charts.py's split), which a kustomize model
# server leaves alone; any other top-level key would be llm-d-modelservice's.
_NOT_MODELSERVER = frozenset({"inferenceExtension", "inferencePool", "provider", "router", "experimentalHttpRoute",
                              "httpRoute", "inferenceObjectives", "gateway"})


def check_tracing_keys(values: Mapping[str, Any], profile: Profile, source: str) -> None:
    """Refuse misspelled keys under the tracing path, and another chart version's tracing path."""
    if profile.values_schema["epp"].path == "router.tracing" and "inferenceExtension" in values:
        raise ValuesError(f"{source} sets a top-level inferenceExtension: key, which the llm-d Router chart refuses "
                          f"(llm-d-router PRs 1262, 1302): put the EPP's tracing under router.tracing "
                          f"(and its other settings under router.epp)")
    ms = profile.values_schema["modelservice"]
    if ms.kind == "kustomize":
        _check_kustomize(values, ms, profile, source)
    for chart, schema in profile.values_schema.items():
        if schema.kind == "kustomize":
            continue
        _check_schema(values, schema, profile, source)
        for other in KNOWN_TRACING_PATHS[chart]:
            if other != schema.path and isinstance(lookup(values, other), Mapping):
                raise ValuesError(
                    f"{source} sets {other}.* but profile {profile.name}'s {chart} chart reads "
                    f"{schema.path}.*: move the block to {schema.path} or pick the profile that matches")


def _check_kustomize(values: Mapping[str, Any], schema: TracingSchema, profile: Profile, source: str) -> None:
    """A kustomize model server takes only the harness's tracing block (as patches after llm-d's
    component): any other model-server key has no meaning there."""
    top = schema.path.split(".")[0]
    for key, value in values.items():
        if key in _NOT_MODELSERVER or key == top:
            continue
        first = leaves(value, f"{key}.")[0] if isinstance(value, Mapping) and value else key
        raise ValuesError(f"{source}: {first} has no meaning for a kustomize model server (profile {profile.name}: "
                          f"the harness's vLLM Deployment with llm-d's tracing component); only "
                          f"{schema.path}.* reaches it ({', '.join(schema.key_paths())})")
    node = lookup(values, schema.path)
    if node is None:
        return
    if not isinstance(node, Mapping):
        raise ValuesError(f"{source}: {schema.path} must be a mapping, not {type(node).__name__}")
    try:
        check_block(node, source, schema.path)
    except KustomizeValuesError as exc:
        raise ValuesError(str(exc)) from None


def _check_schema(values: Mapping[str, Any], schema: TracingSchema, profile: Profile, source: str) -> None:
    node = lookup(values, schema.path)
    if node is None:
        return
    if not isinstance(node, Mapping):
        raise ValuesError(f"{source}: {schema.path} must be a mapping, not {type(node).__name__}")
    pin = profile.charts.get(schema.chart)
    chart = f"{pin.chart} {pin.version}" if pin else f"the {schema.chart} chart"
    for leaf in leaves(node):
        if leaf in schema.keys:
            continue
        guess = difflib.get_close_matches(leaf, schema.keys, n=1, cutoff=0.6)
        if leaf in GUIDE_KEYS[schema.chart]:  # a key of the guide's block this chart version does not have
            hint = "its values schema refuses it (other versions of the chart have it): leave it out"
        elif guess:
            hint = f"did you mean {schema.path}.{guess[0]}?"
        else:
            hint = f"known keys: {', '.join(schema.key_paths())}"
        raise ValuesError(f"{source}: unknown tracing key {schema.path}.{leaf} for {chart} (profile {profile.name}); {hint}")


def container_overlay(values: Mapping[str, Any], role: str = "decode", **fields: Any) -> dict[str, Any]:
    """An overlay changing `fields` of the first `role` container. Helm replaces lists, so an
    overlay of `decode.containers` must carry the whole container (image included), not the change."""
    containers = list(lookup(values, f"{role}.containers", []) or [])
    if not containers:
        raise ValuesError(f"these values have no {role}.containers to change")
    return {role: {"containers": [{**containers[0], **fields}, *containers[1:]]}}


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's rule: maps merge key by key, anything else (lists included) is replaced."""
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


