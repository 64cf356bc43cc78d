"""llm-d's kustomize tracing component for the model server (the current guide's Step 2), as the
harness predicts it, and the patch that carries a run's tracing values after it.

The component (llm-d/llm-d guides/recipes/observability/tracing/components/vllm-deployment,
pinned in versions.toml [kustomize.tracing-component]) patches every Deployment labelled
`llm-d.ai/role=decode` whose first container is `modelserver` with command `[vllm, serve]`: it
appends two args and merges five OTEL_* env vars (sampler ratio 0.1). A run's values
(`tracing.*`, the harness's own block for a kustomize model server) become one more patch layered
after the component, the way llm-d's own render test overrides endpoint and sampler: env by name,
args untouched, except to switch tracing off or change the detail level.

Pure: no kustomize runs here. tests/unit/test_kustomize_component.py holds `predict_container`
against the real `kustomize build` of the component over the harness's base, patches included.
Entry point for other platforms: `vllm_tracing(block, base_args, base_env)` -> (args, env).
"""
from __future__ import annotations

import difflib
from typing import Any, Mapping, Sequence

import yaml

DECODE_SELECTOR = "llm-d.ai/role=decode"
CONTAINER = "modelserver"
COMMAND = ("vllm", "serve")
COMPONENT_ARGS = ("--otlp-traces-endpoint=$(OTEL_EXPORTER_OTLP_ENDPOINT)", "--collect-detailed-traces=all")
COMPONENT_ENV = (
    ("OTEL_SERVICE_NAME", "vllm-decode"),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel-collector:4317"),
    ("OTEL_TRACES_EXPORTER", "otlp"),
    ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
    ("OTEL_TRACES_SAMPLER_ARG", "0.1"),
)
# The values block's keys (below `tracing.`) and the env var each one sets.
ENV_OF_KEY = {
    "otlpEndpoint": "OTEL_EXPORTER_OTLP_ENDPOINT",
    "sampling.sampler": "OTEL_TRACES_SAMPLER",
    "sampling.samplerArg": "OTEL_TRACES_SAMPLER_ARG",
    "serviceNames.vllmDecode": "OTEL_SERVICE_NAME",
}
DETAIL_KEY = "vllm.collectDetailedTraces"
KEYS = ("enabled", *ENV_OF_KEY, DETAIL_KEY)
# Keys of the chart-era block that mean nothing here, and why (the refusal says so).
NO_MEANING = {
    "serviceNames.vllmPrefill": "the component patches only the decode Deployment (llm-d.ai/role=decode)",
    "serviceNames.routingProxy": "the component sets no env on the routing proxy (the guide leaves that step to you)",
}
TARGET = {"group": "apps", "version": "v1", "kind": "Deployment", "labelSelector": DECODE_SELECTOR}


class KustomizeValuesError(ValueError):
    """Values a kustomize model server cannot take; the message is one line naming the fix."""


def _leaves(node: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, Mapping) and value:
            out.update(_leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def check_block(block: Mapping[str, Any], where: str = "values", path: str = "tracing") -> dict[str, Any]:
    """The block's leaves (dotted key -> value); a key with no meaning here is refused in one line."""
    leaves = _leaves(block or {})
    for key in leaves:
        if key in KEYS:
            continue
        if key in NO_MEANING:
            why = NO_MEANING[key]
        else:
            guess = difflib.get_close_matches(key, KEYS, n=1, cutoff=0.6)
            why = f"did you mean {path}.{guess[0]}?" if guess else f"known keys: {', '.join(f'{path}.{k}' for k in KEYS)}"
        raise KustomizeValuesError(f"{where}: {path}.{key} has no meaning for a kustomize model server "
                                   f"(llm-d's tracing component): {why}")
    return leaves


def _enabled(leaves: Mapping[str, Any]) -> bool:
    return leaves.get("enabled", True) not in (False, "false", "False")


def values_patches(block: Mapping[str, Any], base_args: int) -> list[dict[str, Any]]:
    """The kustomize `patches:` entries that carry `block` after the component, for a base
    container with `base_args` args (the component appended its two after them). Empty block: none."""
    leaves = check_block(block)
    if not _enabled(leaves):
        at = f"/spec/template/spec/containers/0/args/{base_args}"
        ops = [{"op": "test", "path": at, "value": COMPONENT_ARGS[0]},
               {"op": "test", "path": f"/spec/template/spec/containers/0/args/{base_args + 1}", "value": COMPONENT_ARGS[1]},
               {"op": "remove", "path": f"/spec/template/spec/containers/0/args/{base_args + 1}"},
               {"op": "remove", "path": at}]
        env = [{"name": name, "$patch": "delete"} for name, _ in COMPONENT_ENV]
        return [_json6902(ops), _strategic(env)]
    patches = []
    if str(leaves.get(DETAIL_KEY, "all")) != "all":
        at = f"/spec/template/spec/containers/0/args/{base_args + 1}"
        patches.append(_json6902([{"op": "test", "path": at, "value": COMPONENT_ARGS[1]},
                                  {"op": "replace", "path": at,
                                   "value": f"--collect-detailed-traces={leaves[DETAIL_KEY]}"}]))
    env = [{"name": ENV_OF_KEY[k], "value": str(leaves[k])} for k in ENV_OF_KEY if k in leaves]
    if env:
        patches.append(_strategic(env))
    return patches


def _json6902(ops: list[dict[str, Any]]) -> dict[str, Any]:
    return {"target": dict(TARGET), "patch": yaml.safe_dump(ops, sort_keys=False)}


def _strategic(env: list[dict[str, Any]]) -> dict[str, Any]:
    # `name` is ignored with a target (kustomize patches every Deployment the selector picks).
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "decode"},
            "spec": {"template": {"spec": {"containers": [{"name": CONTAINER, "env": env}]}}}}
    return {"target": dict(TARGET), "patch": yaml.safe_dump(body, sort_keys=False)}


# ---- the prediction --------------------------------------------------------------------------


def merge_named(items: Sequence[Mapping[str, Any]], patch: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """kustomize's strategic merge of a list keyed by `name` (env, containers), as `kustomize build`
    orders it: the patch's entries first, in the patch's order, each merged into the entry of the
    same name (a null field removes it; an `env` list merges the same way), then the entries the
    patch does not name, in their order."""
    named = {p["name"] for p in patch}
    first = []
    for entry in patch:
        merged = dict(next((i for i in items if i.get("name") == entry["name"]), {}))
        for key, value in entry.items():
            if value is None:
                merged.pop(key, None)
            elif key == "env" and isinstance(merged.get("env"), list):
                merged["env"] = merge_named(merged["env"], value)
            else:
                merged[key] = value
        first.append(merged)
    return first + [dict(i) for i in items if i.get("name") not in named]


def _merge_env(env: list[dict[str, Any]], updates: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    return merge_named(env, [{"name": name, "value": value, "valueFrom": None} for name, value in updates])


def component_applies(container: Mapping[str, Any]) -> str | None:
    """Why the component's `test` ops would fail on this container (None: they pass)."""
    if container.get("name") != CONTAINER:
        return f"the first container is {container.get('name')!r}, the component tests for {CONTAINER!r}"
    if list(container.get("command") or []) != list(COMMAND):
        return f"the first container's command is {container.get('command')!r}, the component tests for {list(COMMAND)}"
    if not isinstance(container.get("args"), list):
        return "the first container has no args list for the component to append to"
    return None


def predict_container(container: Mapping[str, Any], block: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The decode Deployment's first container after the component and the values patch."""
    problem = component_applies(container)
    if problem:
        raise KustomizeValuesError(f"llm-d's tracing component cannot patch this model server: {problem}")
    leaves = check_block(block or {})
    out = dict(container)
    out["args"] = list(container["args"]) + list(COMPONENT_ARGS)
    out["env"] = _merge_env(list(container.get("env") or []), COMPONENT_ENV)
    if not _enabled(leaves):
        out["args"] = list(container["args"])
        out["env"] = [e for e in out["env"] if e.get("name") not in dict(COMPONENT_ENV)]
        if not out["env"]:
            del out["env"]
        return out
    if DETAIL_KEY in leaves:
        out["args"][-1] = f"--collect-detailed-traces={leaves[DETAIL_KEY]}"
    out["env"] = _merge_env(out["env"], [(ENV_OF_KEY[k], str(leaves[k])) for k in ENV_OF_KEY if k in leaves])
    return out


def vllm_tracing(block: Mapping[str, Any] | None = None, base_args: Sequence[str] = (),
                 base_env: Sequence[tuple[str, str]] = ()) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """vLLM's args and env (in order) for a decode container whose own args and env are
    `base_args`/`base_env`, after the component and `block` (`tracing.*` values). The args keep
    `$(OTEL_EXPORTER_OTLP_ENDPOINT)`, which the kubelet expands from the env (`expand_args`)."""
    container = {"name": CONTAINER, "command": list(COMMAND), "args": list(base_args),
                 "env": [{"name": n, "value": v} for n, v in base_env]}
    out = predict_container(container, block)
    return tuple(out["args"]), tuple((e["name"], str(e.get("value", ""))) for e in out.get("env") or [])


def guide_step2(block: Mapping[str, Any], service: str, with_exporter: bool = False) -> tuple[tuple[str, str], ...]:
    """The guide's Step 2 env, as a user adds it to a container the component does not patch (the
    routing proxy, a prefill server): the block's endpoint and sampling, or the guide's values."""
    leaves = _leaves(block or {})
    env = [("OTEL_SERVICE_NAME", service),
           ("OTEL_EXPORTER_OTLP_ENDPOINT", str(leaves.get("otlpEndpoint", COMPONENT_ENV[1][1]))),
           ("OTEL_TRACES_SAMPLER", str(leaves.get("sampling.sampler", "parentbased_traceidratio"))),
           ("OTEL_TRACES_SAMPLER_ARG", str(leaves.get("sampling.samplerArg", "1.0")))]
    return tuple(env[:2] + [("OTEL_TRACES_EXPORTER", "otlp")] + env[2:]) if with_exporter else tuple(env)


def guide_step2_args(block: Mapping[str, Any]) -> tuple[str, ...]:
    """The guide's Step 2 serve flags, as a user adds them (`--otlp-traces-endpoint URL --collect-detailed-traces all`)."""
    leaves = _leaves(block or {})
    return ("--otlp-traces-endpoint", str(leaves.get("otlpEndpoint", COMPONENT_ENV[1][1])),
            "--collect-detailed-traces", str(leaves.get(DETAIL_KEY, "all")))


def expand_args(args: Sequence[str], env: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    """The kubelet's `$(VAR)` expansion of args from the container's env (unknown names stay)."""
    import re

    values = dict(env)
    return tuple(re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: values.get(m.group(1), m.group(0)), a)
                 for a in args)
