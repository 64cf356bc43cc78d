"""Chart values the kind run renders: tracing on, pointed at the in-cluster collector, with the
key schema of the profile's chart versions; plus the user's --values files, checked and split
between the EPP chart and llm-d-modelservice.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from llmd_trace_e2e.deployment.charts import (
    EPP_RELEASE, EPP_TOP_LEVEL, HARNESS_TOP_LEVEL, MODELSERVICE_RELEASE, split_values)
from llmd_trace_e2e.deployment.profiles import Profile
from llmd_trace_e2e.deployment.values import ValuesError, deep_merge, load_values_file, tracing_values
from llmd_trace_e2e.platforms.kind import yamlout
from llmd_trace_e2e.platforms.kind.options import KindOptions

POOL_LABELS = {"llm-d.ai/inference-serving": "true", "llmd-trace-e2e.llm-d.ai/pool": "trace-e2e"}
MODEL_MOUNT = "/model-cache"
TINY_MODEL_NAME = "tiny-llama"
GPU_MODEL_NAME = "Qwen/Qwen3-0.6B"
OTEL_SITE = "/opt/otel-site"
VLLM_PORT = 8200  # behind the routing proxy, which listens on 8000
SERVICE_PORT = 8000

# EPP_RELEASE, MODELSERVICE_RELEASE and how a values file splits between the charts
# (EPP_TOP_LEVEL, HARNESS_TOP_LEVEL) are charts.py's, shared with the local platform.
__all__ = ["EPP_RELEASE", "EPP_TOP_LEVEL", "HARNESS_TOP_LEVEL", "MODELSERVICE_RELEASE"]


@dataclass(frozen=True)
class UserValues:
    source: Path
    epp: dict[str, Any]
    modelservice: dict[str, Any]
    harness: dict[str, Any] = field(default_factory=dict)  # HARNESS_TOP_LEVEL keys


def load_user_values(path: Path, profile: Profile) -> UserValues:
    """A --values file, checked and split: EPP-chart keys, the harness's own, and the rest."""
    doc = load_values_file(path, profile)
    epp, ms = split_values(doc)
    return UserValues(Path(path), epp, ms, {k: v for k, v in doc.items() if k in HARNESS_TOP_LEVEL})


def merged(base: Mapping[str, Any], user_values: list[UserValues], part: str) -> dict[str, Any]:
    """What helm gets for one chart: the harness's values, then each user file's part, like -f."""
    out = dict(base)
    for uv in user_values:
        out = deep_merge(out, getattr(uv, part))
    return out



# ---- the EPP chart ---------------------------------------------------------------------------


def _split_image(ref: str) -> tuple[str, str, str]:
    """registry/path/name:tag -> (registry/path, name, tag)."""
    repo, _, tag = ref.rpartition(":")
    head, _, name = repo.rpartition("/")
    return head, name, tag


def epp_values(profile: Profile, opts: KindOptions) -> dict[str, Any]:
    chart = profile.charts["epp"].chart
    head, name, tag = _split_image(profile.images["epp"])
    tracing = tracing_values(profile, "epp")
    if chart == "inferencepool":  # GAIE: inferenceExtension.* / inferencePool.*
        values = {
            "inferenceExtension": {
                "replicas": 1,
                "image": {"hub": head, "name": name, "tag": tag, "pullPolicy": "IfNotPresent"},
            },
            "inferencePool": {"targetPorts": [{"number": SERVICE_PORT}], "modelServers": {"matchLabels": POOL_LABELS}},
            "provider": {"name": "istio"},
        }
    elif chart == "llm-d-router-gateway":  # llm-d-router: router.*
        values = {
            "router": {
                "epp": {
                    "replicas": 1,
                    "image": {"registry": head, "repository": name, "tag": tag, "pullPolicy": "IfNotPresent"},
                    # The chart asks for 8 CPUs by default: too much for a kind node on a CI runner.
                    "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "2Gi"}},
                },
                "modelServers": {"matchLabels": POOL_LABELS, "targetPorts": [{"number": SERVICE_PORT}]},
            },
            "provider": {"name": "istio"},
        }
        if opts.pd:
            values["router"]["epp"]["pluginsConfigFile"] = "pd-config.yaml"
            values["router"]["epp"]["pluginsCustomConfig"] = {"pd-config.yaml": PD_EPP_CONFIG}
    else:
        raise ValuesError(f"profile {profile.name}: no values layout for EPP chart {chart!r}")
    return deep_merge(values, tracing)


# Always disaggregate, so every request yields prefill and decode spans. Plugin names follow
# llm-d-router's disaggregation docs; checked only by the GPU nightly.
PD_EPP_CONFIG = """\
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: metrics-data-source
- type: core-metrics-extractor
- type: always-disagg-pd-decider
- type: disagg-profile-handler
  parameters:
    deciders:
      prefill: always-disagg-pd-decider
- type: prefill-filter
- type: decode-filter
- type: queue-scorer
- type: max-score-picker
schedulingProfiles:
- name: prefill
  plugins:
  - pluginRef: prefill-filter
  - pluginRef: queue-scorer
  - pluginRef: max-score-picker
- name: decode
  plugins:
  - pluginRef: decode-filter
  - pluginRef: queue-scorer
  - pluginRef: max-score-picker
"""


# ---- llm-d-modelservice ----------------------------------------------------------------------


def otel_packages(requirements: Path) -> list[str]:
    """The OpenTelemetry SDK and exporter pins of the local vLLM venv (one source for both)."""
    pins = re.findall(r"^(opentelemetry-[a-z0-9-]+==\S+)", requirements.read_text(), re.MULTILINE)
    pins = [p for p in pins if "instrumentation" not in p and "distro" not in p]
    if not pins:
        raise ValuesError(f"{requirements} pins no opentelemetry-* packages")
    return pins


def otel_deps_init_container(image: str, packages: list[str]) -> dict[str, Any]:
    """vLLM images may lack the OpenTelemetry SDK that --otlp-traces-endpoint needs; when they
    do, install the local venv's pins into a shared volume that PYTHONPATH points at."""
    script = (
        "set -e\n"
        "if python3 -c 'import opentelemetry.sdk.trace, opentelemetry.exporter.otlp.proto.grpc.trace_exporter' "
        "2>/dev/null; then echo 'the image has the OpenTelemetry SDK'; exit 0; fi\n"
        f"if command -v uv >/dev/null; then uv pip install --python \"$(command -v python3)\" --target {OTEL_SITE} $PKGS;\n"
        f"else python3 -m pip install --no-cache-dir --target {OTEL_SITE} $PKGS; fi\n"
    )
    return {
        "name": "otel-sdk",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["sh", "-c", script],
        "env": [{"name": "PKGS", "value": " ".join(packages)}],
        "volumeMounts": [{"name": "otel-site", "mountPath": OTEL_SITE}],
    }


def tiny_model_init_container(image: str) -> dict[str, Any]:
    return {
        "name": "tiny-model",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["python3", "/scripts/make_tiny_model.py", f"{MODEL_MOUNT}/{TINY_MODEL_NAME}"],
        "env": [{"name": "HF_HUB_OFFLINE", "value": "1"}],
        "volumeMounts": [
            {"name": "model-storage", "mountPath": MODEL_MOUNT},
            {"name": "tiny-model-script", "mountPath": "/scripts", "readOnly": True},
        ],
    }


def _probes(port: int) -> dict[str, Any]:
    return {
        "startupProbe": {"httpGet": {"path": "/health", "port": port}, "periodSeconds": 5, "failureThreshold": 240},
        "readinessProbe": {"httpGet": {"path": "/v1/models", "port": port}, "periodSeconds": 5},
    }


def _vllm_container(profile: Profile, opts: KindOptions, port: int) -> dict[str, Any]:
    env = [{"name": "PYTHONPATH", "value": OTEL_SITE}]
    if opts.gpu:
        image = profile.images["vllm-gpu"]
        args = ["--max-model-len", "4096", "--gpu-memory-utilization", "0.8"]
        resources = {"limits": {"nvidia.com/gpu": "1"}, "requests": {"nvidia.com/gpu": "1"}}
        if opts.pd:
            args += ["--kv-transfer-config", json.dumps({"kv_connector": "NixlConnector", "kv_role": "kv_both"})]
    else:
        image = profile.images["vllm-cpu"]
        args = ["--max-model-len", "512", "--enforce-eager", "--dtype", "bfloat16"]
        env += [{"name": "HF_HUB_OFFLINE", "value": "1"}, {"name": "VLLM_CPU_KVCACHE_SPACE", "value": "1"}]
        resources = {"requests": {"cpu": "1", "memory": "3Gi"}, "limits": {"memory": "6Gi"}}
    return {
        "name": "vllm",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "modelCommand": "vllmServe",  # the chart injects tracing args only for vllmServe/imageDefault
        "args": args,
        "env": env,
        "ports": [{"containerPort": port, "name": "metrics", "protocol": "TCP"}],
        "resources": resources,
        "mountModelVolume": True,
        "volumeMounts": [{"name": "otel-site", "mountPath": OTEL_SITE}, {"name": "dshm", "mountPath": "/dev/shm"}],
        **_probes(port),
    }


def _pod_spec(profile: Profile, opts: KindOptions, port: int, packages: list[str]) -> dict[str, Any]:
    image = profile.images["vllm-gpu" if opts.gpu else "vllm-cpu"]
    init = [otel_deps_init_container(image, packages)]
    volumes: list[dict[str, Any]] = [
        {"name": "otel-site", "emptyDir": {}},
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
    ]
    if not opts.gpu:
        init.append(tiny_model_init_container(image))
        volumes.append({"name": "tiny-model-script", "configMap": {"name": "tiny-model-script"}})
    return {"replicas": 1, "containers": [_vllm_container(profile, opts, port)], "initContainers": init,
            "volumes": volumes}


def modelservice_values(profile: Profile, opts: KindOptions, packages: list[str]) -> dict[str, Any]:
    if opts.gpu:
        artifacts = {"name": GPU_MODEL_NAME, "uri": f"hf://{GPU_MODEL_NAME}", "size": "20Gi"}
    else:
        # An absolute path after hf:// reaches vLLM as a local directory: the init container's model.
        artifacts = {"name": TINY_MODEL_NAME, "uri": f"hf://{MODEL_MOUNT}/{TINY_MODEL_NAME}", "size": "1Gi"}
    values: dict[str, Any] = {
        "modelArtifacts": {**artifacts, "labels": dict(POOL_LABELS), "mountPath": MODEL_MOUNT},
        "accelerator": {"type": "nvidia" if opts.gpu else "cpu"},
        "routing": {
            "servicePort": SERVICE_PORT,
            "proxy": {
                "enabled": True,
                "image": profile.images["routing-proxy"],
                "imagePullPolicy": "IfNotPresent",
                "targetPort": VLLM_PORT,
                "connector": "nixlv2",
                "secure": False,
                # null drops the chart's zap flags, which the routing proxies do not all accept
                "zapEncoder": None,
                "zapLogLevel": None,
            },
        },
        "decode": _pod_spec(profile, opts, VLLM_PORT, packages),
        "prefill": {"create": False, "replicas": 0},
    }
    if opts.pd:
        values["prefill"] = {"create": True, **_pod_spec(profile, opts, SERVICE_PORT, packages)}
    return deep_merge(values, tracing_values(profile, "modelservice"))


def to_yaml(values: Mapping[str, Any], header: str = "") -> str:
    body = yamlout.dump(dict(values))
    return (f"# {header}\n" if header else "") + body
