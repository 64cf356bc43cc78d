"""What each local process is launched with, apart from the processes themselves: the run's
baseline values, one launch per decode replica, the harness's one addition to the exporters' env."""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

from llmd_trace_e2e.platforms.base import SDK_BATCH_DELAY_S
from llmd_trace_e2e.platforms.local.epp import epp_argv
from llmd_trace_e2e.platforms.local.proxy import sidecar_argv
from llmd_trace_e2e.deployment.charts import Launch, epp_launch, pool_selector, proxy_launch
from llmd_trace_e2e.deployment.profiles import Profile
from llmd_trace_e2e.deployment.values import deep_merge, lookup, tracing_values

# The harness's one addition to the exporters' env: vLLM and the EPP send their batches every
# 0.5 s instead of the SDKs' 5 s (SDK_BATCH_DELAY_S), so a wait for spans, or the wait that proves
# their absence, ends sooner. What they export and how does not change; values that set the
# variable (a chart's extra env) still win.
EXPORT_BATCH_DELAY_MS = 500
POD_LABELS = {"app": "vllm-local", "llm-d.ai/inference-serving": "true"}
POD_NAME = "vllm-local"  # the first model server's Pod; the charts' metadata.name fieldRef resolves to it locally


def decode_replicas(values: Mapping[str, Any]) -> int:
    """`decode.replicas` (the modelservice chart's key): each replica its own vLLM, port and Pod."""
    return max(1, int(lookup(values, "decode.replicas") or 1))


def replica_pod(index: int) -> str:
    return POD_NAME if index == 0 else f"{POD_NAME}-{index}"


def for_replica(launch: Launch, index: int) -> Launch:
    """The launch as replica `index`'s own Pod would get it: its Downward API metadata.name."""
    if index == 0:
        return launch
    pod = replica_pod(index)
    env = tuple((k, re.sub(rf"\b{POD_NAME}\b(?!-)", pod, v)) for k, v in launch.env_list)
    return Launch(launch.args, env, launch.tracing, launch.notes)


def with_batch_delay(launch: Launch) -> Launch:
    """EXPORT_BATCH_DELAY_MS as the first env entry (Kubernetes semantics: a later one wins)."""
    return replace(launch, env_list=(("OTEL_BSP_SCHEDULE_DELAY", str(EXPORT_BATCH_DELAY_MS)), *launch.env_list))


def batch_delay_s(*launches: Launch) -> float:
    """The longest batch delay among these exporters' env (the SDKs' default where unset)."""
    return max(float(launch.env.get("OTEL_BSP_SCHEDULE_DELAY", SDK_BATCH_DELAY_S * 1000)) / 1000 for launch in launches)


def baseline_values(profile: Profile) -> dict[str, Any]:
    """What the guide asks for: tracing on in both charts, and a vLLM started by the chart's
    own `vllmServe` command (the chart injects tracing only there)."""
    values = deep_merge(tracing_values(profile, "modelservice"), tracing_values(profile, "epp"))
    # The pool the local control plane holds selects the vLLM Pod object by these labels, as the
    # EPP chart's InferencePool would.
    values = deep_merge(values, pool_selector(profile.charts["epp"].chart, POD_LABELS))
    return deep_merge(values, {"decode": {"containers": [{"name": "vllm", "modelCommand": "vllmServe"}]}})


def render_argv(profile: Profile, role: str, values: Mapping[str, Any]) -> list[str]:
    """The flags the local platform gives `role` ("epp" or "routing-proxy") under this profile and
    these values: what a binary brought for it must take."""
    if role == "epp":
        return [str(a) for a in epp_argv(Path("epp"), epp_launch(values, profile), [0, 0, 0])[0][1:]]
    return sidecar_argv(Path("routing-proxy"), proxy_launch(values, profile), 0, 0)[0][1:]
