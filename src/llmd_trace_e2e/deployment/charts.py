"""What the charts hand each traced container for a run's Helm values: the real render where
the chart can be had (chart_render.py), the emulation otherwise (chart_emulation.py); and, from
that, the launch the local platform gives each process (endpoints moved by `localize`).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlparse

from llmd_trace_e2e.deployment import chart_emulation, kustomize_modelserver
from llmd_trace_e2e.deployment.chart_render import (
    NAMESPACE, ChartUnavailable, RenderedContainer, containers_of, render_chart)
from llmd_trace_e2e.deployment.profiles import Profile
from llmd_trace_e2e.deployment.values import deep_merge, lookup

EPP_RELEASE = "trace-e2e"  # the InferencePool is named after the EPP release
MODELSERVICE_RELEASE = "trace-e2e-ms"
# Top-level keys that belong to the EPP chart (GAIE inferencepool or llm-d-router); every other
# top-level key goes to llm-d-modelservice.
EPP_TOP_LEVEL = frozenset({"inferenceExtension", "inferencePool", "provider", "router", "experimentalHttpRoute",
                           "httpRoute", "inferenceObjectives"})
# The harness's own keys (gateway.tracing.*): read by the harness, handed to no chart.
HARNESS_TOP_LEVEL = frozenset({"gateway"})


def split_values(values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(EPP chart part, llm-d-modelservice part) of one values mapping."""
    return ({k: v for k, v in values.items() if k in EPP_TOP_LEVEL},
            {k: v for k, v in values.items() if k not in EPP_TOP_LEVEL | HARNESS_TOP_LEVEL})


@dataclass(frozen=True)
class Prediction:
    chart: str
    version: str
    source: str  # "helm" (the real chart) or "emulation"
    containers: tuple[RenderedContainer, ...]
    documents: tuple[dict, ...] = ()  # the full render, when source is helm
    why: str = ""  # why the chart could not be rendered, when source is emulation

    def of(self, role: str) -> list[RenderedContainer]:
        return [c for c in self.containers if c.role == role]


def _kv_connector(args) -> list:
    """llm-d-router's pd-sidecar from v0.10.0 takes `--kv-connector` (PR 2054 removed `--connector`),
    which every llm-d-modelservice release up to v0.4.12 still renders."""
    return ["--kv-" + a[2:] if str(a).startswith("--connector=") else a for a in args]


def post_render_containers(containers: tuple[RenderedContainer, ...], names: tuple[str, ...]):
    if "kv-connector" not in names:
        return containers
    return tuple(RenderedContainer(c.role, c.name, c.env, tuple(_kv_connector(c.args)), c.command)
                 if c.role == "routing-proxy" else c for c in containers)


def post_render_documents(documents: list[dict], names: tuple[str, ...]) -> list[dict]:
    """The same post-render on rendered manifests (helm --post-renderer runs this on kind)."""
    if "kv-connector" not in names:
        return documents
    for doc in documents:
        if doc.get("kind") != "Deployment":
            continue
        for c in (((doc.get("spec") or {}).get("template") or {}).get("spec") or {}).get("initContainers") or []:
            if c.get("name") == "routing-proxy":
                c["args"] = _kv_connector(c.get("args") or [])
    return documents


@lru_cache(maxsize=256)
def _predict_cached(chart: str, version: str, values_json: str, release: str, namespace: str,
                    chart_dirs: tuple[tuple[str, str], ...], post_render: tuple[str, ...]) -> Prediction:
    values = json.loads(values_json)
    dirs = {name: Path(path) for name, path in chart_dirs}
    try:
        documents = post_render_documents(render_chart(chart, version, values, release=release, namespace=namespace,
                                                       chart_dirs=dirs), post_render)
        return Prediction(chart, version, "helm", tuple(containers_of(documents)), tuple(documents))
    except ChartUnavailable as unavailable:
        containers = tuple(chart_emulation.predict(chart, version, values, release=release, namespace=namespace))
        return Prediction(chart, version, "emulation", post_render_containers(containers, post_render),
                          why=unavailable.why)


def predict(chart: str, version: str, values: Mapping[str, Any], *, release: str = EPP_RELEASE,
            namespace: str = NAMESPACE, chart_dirs: Mapping[str, Path] | None = None,
            post_render: tuple[str, ...] = ()) -> Prediction:
    """What `chart` at `version` hands its traced containers: helm's render where the chart can be
    had, else the emulation's. Values the chart refuses raise ChartRefused either way."""
    key = json.dumps(values, sort_keys=True, default=str)
    dirs = tuple(sorted((k, str(v)) for k, v in (chart_dirs or {}).items()))
    return _predict_cached(chart, version, key, release, namespace, dirs, tuple(post_render))


# ---- per profile -----------------------------------------------------------------------------


def chart_release(role: str) -> str:
    return EPP_RELEASE if role == "epp" else MODELSERVICE_RELEASE


def predict_for(profile: Profile, role: str, values: Mapping[str, Any], chart_dirs: Mapping[str, Path] | None = None,
                namespace: str = NAMESPACE) -> Prediction:
    """The profile's `role` chart ("epp" or "modelservice") for that chart's part of `values`."""
    pin = profile.charts[role]
    epp_part, ms_part = split_values(values)
    post = tuple(profile.post_render) if role == "modelservice" else ()
    return predict(pin.chart, pin.version, epp_part if role == "epp" else ms_part, release=chart_release(role),
                   namespace=namespace, chart_dirs=chart_dirs, post_render=post)


# ---- what the local platform gives a process -------------------------------------------------


@dataclass(frozen=True)
class Launch:
    """A container's tracing-relevant launch: args appended to its command, env in render order."""

    args: tuple[str, ...] = ()
    env_list: tuple[tuple[str, str], ...] = ()
    tracing: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def env(self) -> dict[str, str]:
        """Kubernetes semantics: of duplicate names, the last one wins."""
        return dict(self.env_list)


# A process has no pod: the Downward API fields the charts read get these stand-ins.
LOCAL_FIELDS = {"metadata.namespace": NAMESPACE, "spec.nodeName": "localhost"}


def _process_env(container: RenderedContainer, own: set[str]) -> tuple[tuple[str, str], ...]:
    """The container's env as a process gets it: fieldRefs resolved, $(VAR) expanded as the kubelet
    does, and only the OTEL_* entries plus the container's own (the rest is Kubernetes plumbing)."""
    resolved: dict[str, str] = {}
    out = []
    for name, value in container.env:
        ref = re.fullmatch(r"<fieldRef (.+)>", value)
        if ref:
            value = LOCAL_FIELDS.get(ref.group(1), f"{container.name}-local")
        value = re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: resolved.get(m.group(1), m.group(0)), value)
        resolved[name] = value
        if name.startswith("OTEL_") or name in own:
            out.append((name, value))
    return tuple(out)


def _own_env(values: Mapping[str, Any], role: str) -> set[str]:
    containers = lookup(values, f"{role}.containers") or [{}]
    return {e["name"] for e in containers[0].get("env") or [] if isinstance(e, Mapping) and "name" in e}


def _with_process_image(values: Mapping[str, Any], role: str) -> dict[str, Any]:
    """On the local platform vLLM is a process, not an image: the chart's required image is moot."""
    section = dict(values.get(role) or {})
    if section.get("containers"):
        section["containers"] = [{"image": "local-process", **c} for c in section["containers"]]
    return {**values, role: section}


TRACING_ARGS = ("--otlp-traces-endpoint", "--collect-detailed-traces")


def kustomize_vllm_launch(values: Mapping[str, Any], profile: Profile, role: str = "decode") -> Launch:
    """vLLM on a kustomize profile: decode as llm-d's tracing component and the values patch leave
    it; prefill (P/D only) with the guide's Step 2 as a user adds it (the component skips it)."""
    block = lookup(values, profile.values_schema["modelservice"].path) or {}
    if role == "decode":
        args, env = kustomize_modelserver.vllm_tracing(block)
        notes = ("llm-d's kustomize tracing component, then the values as a patch",)
    else:
        env = kustomize_modelserver.guide_step2(block, f"vllm-{role}", with_exporter=True)
        args = kustomize_modelserver.guide_step2_args(block) if block.get("enabled", True) is not False else ()
        env = env if args else ()
        notes = ("the guide's Step 2 as the user's step (the component patches decode only)",)
    flags = []
    for arg in kustomize_modelserver.expand_args(args, env):
        flags += arg.split("=", 1) if arg.startswith("--") and "=" in arg else [arg]
    tracing = "--otlp-traces-endpoint" in flags
    return Launch(tuple(flags), tuple(env), tracing, notes if tracing else ("tracing is off in these values",))


def vllm_launch(values: Mapping[str, Any], profile: Profile, role: str = "decode") -> Launch:
    """The vLLM container of `role` (decode/prefill), as the profile's llm-d-modelservice renders it
    (or, on a kustomize profile, as llm-d's kustomize tracing component leaves it)."""
    if profile.kustomize_modelserver:
        return kustomize_vllm_launch(values, profile, role)
    if profile.platform == "local":  # both roles: the chart renders each, whichever is asked for
        values = _with_process_image(_with_process_image(values, "decode"), "prefill")
    prediction = predict_for(profile, "modelservice", values)
    found = prediction.of(role)
    if not found:
        return Launch(notes=(f"{prediction.chart} {prediction.version} renders no {role} vLLM for these values",))
    vllm = found[0]
    args = []
    for flag in TRACING_ARGS:
        if flag in vllm.args:
            i = vllm.args.index(flag)
            args += list(vllm.args[i:i + 2])
    env = _process_env(vllm, _own_env(values, role))
    tracing = "--otlp-traces-endpoint" in args
    notes = () if tracing else (
        ("the chart renders OTEL_* env but no --otlp-traces-endpoint (modelCommand custom): vLLM exports nothing",)
        if any(n == "OTEL_SERVICE_NAME" for n, _ in vllm.env) else ("tracing is off in these values",))
    return Launch(tuple(args), env, tracing, notes)


# The EPP's identity in the cluster (its pool, its plugins ConfigMap): the local platform names its own.
CLUSTER_ARGS = ("--pool-name", "--pool-namespace", "--pool-group", "--config-file", "--grpc-health-port")


# The local platform creates its own InferencePool (local/epp.py); the chart needs a selector to render.
POOL_LABELS = {"llm-d.ai/inference-serving": "true"}


def pool_selector(chart: str, labels=POOL_LABELS) -> dict[str, Any]:
    """The values key each EPP chart reads its model-server selector from."""
    return {"router": {"modelServers": {"matchLabels": dict(labels)}}} if chart == chart_emulation.ROUTER \
        else {"inferencePool": {"modelServers": {"matchLabels": dict(labels)}}}


def epp_launch(values: Mapping[str, Any], profile: Profile) -> Launch:
    """The EPP container as the profile's EPP chart renders it (the real chart where it can be
    had), less the flags naming its pool and config, which the local platform sets itself."""
    if profile.platform == "local":
        values = deep_merge(pool_selector(profile.charts["epp"].chart), values)
    prediction = predict_for(profile, "epp", values)
    [epp] = prediction.of("epp")
    args, skip = [], False
    for arg in epp.args:
        if skip:
            skip = False
        elif arg in CLUSTER_ARGS:
            skip = True
        elif not arg.startswith(tuple(f"{a}=" for a in CLUSTER_ARGS)):
            args.append(arg)
    user_env = lookup(values, chart_emulation.epp_user_env_path(prediction.chart)) or []
    own = {e["name"] for e in user_env if isinstance(e, Mapping) and "name" in e}
    return Launch(tuple(args), _process_env(epp, own), "--tracing=true" in args,
                  (f"rendered by {prediction.source} ({prediction.chart} {prediction.version})",))


def proxy_launch(values: Mapping[str, Any], profile: Profile) -> Launch:
    """The routing-proxy container as the profile's llm-d-modelservice renders it (after its
    post-renders): all its args, and its OTEL_* env (tracing: that env is there)."""
    if profile.platform == "local":
        values = _with_process_image(values, "decode")
    prediction = predict_for(profile, "modelservice", values)
    found = prediction.of("routing-proxy")
    if not found:
        return Launch(notes=(f"{prediction.chart} {prediction.version} renders no routing proxy for these values",))
    proxy = found[0]
    env = _process_env(proxy, set())
    return Launch(tuple(proxy.args), env, any(name == "OTEL_EXPORTER_OTLP_ENDPOINT" for name, _ in env),
                  (f"rendered by {prediction.source} ({prediction.chart} {prediction.version})",))


def is_in_cluster(endpoint: str) -> bool:
    """A Service address: `name.ns.svc[.cluster.local]`, or a bare Service name in the pod's own
    namespace (`otel-collector`, as llm-d's current recipe has it)."""
    host = urlparse(endpoint).hostname or ""
    bare = bool(host) and "." not in host and host != "localhost"
    return host.endswith(".svc.cluster.local") or host.endswith(".svc") or bare


def localize(launch: Launch, collector_endpoint: str) -> Launch:
    """Point in-cluster collector addresses at the local collector; anything else stays as the
    values say (a wrong endpoint must stay wrong, so the suite can report it)."""
    def swap(value: str) -> str:
        return collector_endpoint if value.startswith(("http://", "https://", "grpc://")) and is_in_cluster(value) else value

    return Launch(tuple(swap(a) for a in launch.args), tuple((k, swap(v)) for k, v in launch.env_list),
                  launch.tracing, launch.notes)
