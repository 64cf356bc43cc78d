"""The kustomize part of a kind plan (profile kustomize-guide), as llm-d's current tracing guide
deploys it: the recipe's collector and Jaeger in the workload's namespace (Step 1), and the model
server as the harness's own vLLM Deployment with llm-d's kustomize tracing component (Step 2).

Both are built by the real kustomize when the plan runs, their remote parts fetched from llm-d's
repository at the commits pinned in versions.toml [kustomize.*]. The plan shows each
kustomization and, for the model server, the harness's prediction of `kustomize build`
(spec/kustomize_modelserver.py; tests/unit/test_kustomize_component.py holds it against the real
kustomize). The run's tracing values (`tracing.*`) become a patch layered after the component.
"""
from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import yaml

from llmd_trace_e2e.deployment import collector_config
from llmd_trace_e2e.deployment import kustomize_modelserver as component
from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.deployment.values import lookup, nest, tracing_values
from llmd_trace_e2e.platforms.kind import manifests, valuesfiles, yamlout
from llmd_trace_e2e.platforms.kind.steps import Apply, Wait
from llmd_trace_e2e.platforms.kind.options import NAMESPACE
from llmd_trace_e2e.platforms.kind.ports import OTLP_GRPC_PORT, collector_ports, jaeger_query_host_ports

KUSTOMIZATION = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}
RECIPE_DIR = "recipe"
MODELSERVER_DIR = "modelserver"
DECODE_NAME = "trace-e2e-decode"
PREFILL_NAME = "trace-e2e-prefill"
# What llm-d's recipe names (guides/recipes/observability/tracing/*.yaml).
RECIPE_COLLECTOR = "otel-collector"
RECIPE_COLLECTOR_CONFIGMAP = "otel-collector-config"
RECIPE_CONFIG_KEY = "config.yaml"
RECIPE_JAEGER = "jaeger"  # its Deployment; its Service is manifests.JAEGER_SERVICE, the guide's name
PROXY_SERVICE = "routing-proxy"  # the guide's example OTEL_SERVICE_NAME for the routing proxy
USERS_STEP = "the user's step, not llm-d's recipe"


def check_options(opts, profile) -> None:
    """Options a kustomize profile cannot honour, refused in one line before anything is rendered."""
    if opts.offline and profile.kustomize:
        raise ConfigError(f"--offline: profile {profile.name!r} fetches llm-d's recipe files at run time (versions.toml "
                          "[kustomize.*]): drop --offline, or use --profile helmfile-guide")
    if opts.helmfile and profile.kustomize_modelserver:
        raise ConfigError(f"--helmfile deploys a helmfile-era guide, but profile {profile.name!r} deploys its model server "
                          "with kustomize: use --profile helmfile-guide with --helmfile")


def collector_host(profile) -> str:
    """The in-cluster host of the run's collector ("" for the harness's own, in `monitoring`)."""
    return f"{RECIPE_COLLECTOR}.{NAMESPACE}.svc.cluster.local" if "observability" in profile.kustomize else ""


def _file(plan, name: str, data: Any, header: str) -> Path:
    return plan.add_file(name, f"# {header}\n" + (yamlout.dump_all(data) if isinstance(data, list) else yamlout.dump(data)))


# ---- Step 1: the recipe's collector and Jaeger -----------------------------------------------


def _host_services() -> list[dict[str, Any]]:
    """NodePorts the harness adds so the host reaches Jaeger's query API and the collector."""
    def service(name, app, ports):
        return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                "spec": {"type": "NodePort", "selector": {"app": app}, "ports": ports}}
    return [
        service("jaeger-query-host", RECIPE_JAEGER, jaeger_query_host_ports()),
        service(f"{RECIPE_COLLECTOR}-host", RECIPE_COLLECTOR, collector_ports(host=True)),
    ]


def _user_collector_config(path: Path) -> dict[str, Any]:
    """--collector-config on a recipe profile: the recipe's ConfigMap gets the user's config, run as
    written but for its receiver's addresses and backend exporters (to the recipe's Jaeger), as the
    harness's own collector runs it (manifests.collector_config_for_cluster)."""
    text = collector_config.read_collector_config(path)
    config = collector_config.parse_collector_config(text, str(path))
    text, _ = manifests.collector_config_for_cluster(config, text, manifests.trace_destination(namespace=""))
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": RECIPE_COLLECTOR_CONFIGMAP},
            "data": {RECIPE_CONFIG_KEY: text}}


def recipe_collector_config(built: Path) -> collector_config.CollectorConfig:
    """The collector config a recipe run deployed, read from its `kustomize build` output."""
    for doc in yaml.safe_load_all(built.read_text()):
        if doc and doc.get("kind") == "ConfigMap" and doc["metadata"]["name"] == RECIPE_COLLECTOR_CONFIGMAP:
            return collector_config.parse_collector_config(doc["data"][RECIPE_CONFIG_KEY], f"{built} ({RECIPE_COLLECTOR_CONFIGMAP})")
    raise ConfigError(f"{built} has no ConfigMap {RECIPE_COLLECTOR_CONFIGMAP}: did the recipe change? check versions.toml [kustomize]")


def _config_roll(path: Path) -> dict[str, Any]:
    """The config's checksum on the collector's pod template: a changed config rolls the pod on a reused cluster."""
    checksum = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": RECIPE_COLLECTOR},
            "spec": {"template": {"metadata": {"annotations": {"llmd-trace-e2e.llm-d.ai/config-sha": checksum}}}}}


def _image_pin(ref: str) -> dict[str, str]:
    name, _, tag = ref.rpartition(":")
    return {"name": name, "newTag": tag}


def observability_steps(plan) -> tuple[str, str]:
    """Namespace, then `kustomize build` of the recipe's two files in the workload's namespace."""
    opts, profile, steps = plan.options, plan.profile, plan.steps
    source = profile.kustomize["observability"]
    collector, jaeger = profile.images["collector"], profile.images["jaeger"]
    steps.append(Apply("namespace", plan.add_file("00-namespaces.yaml", manifests.dump_all(
        manifests.namespaces(NAMESPACE)))))
    kustomization: dict[str, Any] = {**KUSTOMIZATION, "namespace": NAMESPACE,
                                     "resources": [*source.files, "host-services.yaml"],
                                     "images": [_image_pin(collector), _image_pin(jaeger)]}
    shows = [_file(plan, f"{RECIPE_DIR}/host-services.yaml", _host_services(),
                   "the harness's addition: NodePorts so the host reaches Jaeger's query API and the collector")]
    if opts.collector_config:
        shows.append(_file(plan, f"{RECIPE_DIR}/collector-config.yaml", _user_collector_config(opts.collector_config),
                           f"--collector-config {opts.collector_config} in place of the recipe's config"))
        kustomization["patches"] = [{"path": "collector-config.yaml"}, {"patch": yamlout.dump(_config_roll(opts.collector_config))}]
    shows.insert(0, _file(plan, f"{RECIPE_DIR}/kustomization.yaml", kustomization,
                          "llm-d's tracing recipe (Step 1, Manual Deployment) in the workload's namespace; "
                          "the files are fetched at run time; images as versions.toml pins them"))
    steps.append(Apply(f"the recipe's OpenTelemetry Collector ({RECIPE_COLLECTOR}:{OTLP_GRPC_PORT}) and Jaeger "
                       f"({manifests.JAEGER_SERVICE}) in namespace {NAMESPACE}", opts.rendered_dir / RECIPE_DIR,
                       kustomize=True, shows=tuple(shows)))
    steps.append(Wait("Jaeger ready", "deployments", "jaeger_ready", NAMESPACE, name=RECIPE_JAEGER))
    steps.append(Wait("collector ready", "deployments", "collector_ready", NAMESPACE, name=RECIPE_COLLECTOR))
    return collector, jaeger


# ---- Step 2: the model server ----------------------------------------------------------------


def _volumes(opts) -> list[dict[str, Any]]:
    volumes = [{"name": "otel-site", "emptyDir": {}}, {"name": "model-storage", "emptyDir": {}},
               {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}}]
    if not opts.gpu:
        volumes.append({"name": "tiny-model-script", "configMap": {"name": manifests.TINY_MODEL_CONFIGMAP}})
    return volumes


def vllm_container(profile, opts, port: int, extra_args: tuple[str, ...] = (),
                   extra_env: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    """The model server container as llm-d's component requires it: first, `modelserver`, `[vllm, serve]`."""
    env = [{"name": "PYTHONPATH", "value": valuesfiles.OTEL_SITE}]
    if opts.gpu:
        image = profile.images["vllm-gpu"]
        args = [valuesfiles.GPU_MODEL_NAME, "--max-model-len", "4096", "--gpu-memory-utilization", "0.8"]
        env.append({"name": "HF_HOME", "value": valuesfiles.MODEL_MOUNT})
        resources = {"limits": {"nvidia.com/gpu": "1"}, "requests": {"nvidia.com/gpu": "1"}}
        if opts.pd:
            args += ["--kv-transfer-config", '{"kv_connector":"NixlConnector","kv_role":"kv_both"}']
    else:
        image = profile.images["vllm-cpu"]
        args = [f"{valuesfiles.MODEL_MOUNT}/{valuesfiles.TINY_MODEL_NAME}", "--served-model-name",
                valuesfiles.TINY_MODEL_NAME, "--max-model-len", "512", "--enforce-eager", "--dtype", "bfloat16"]
        env += [{"name": "HF_HUB_OFFLINE", "value": "1"}, {"name": "VLLM_CPU_KVCACHE_SPACE", "value": "1"}]
        resources = {"requests": {"cpu": "1", "memory": "3Gi"}, "limits": {"memory": "6Gi"}}
    env += [{"name": n, "value": v} for n, v in extra_env]
    return {"name": component.CONTAINER, "image": image, "imagePullPolicy": "IfNotPresent",
            "command": list(component.COMMAND), "args": [*args, "--port", str(port), *extra_args], "env": env,
            "ports": [{"containerPort": port, "name": "http", "protocol": "TCP"}], "resources": resources,
            "volumeMounts": [{"name": "otel-site", "mountPath": valuesfiles.OTEL_SITE},
                             {"name": "model-storage", "mountPath": valuesfiles.MODEL_MOUNT},
                             {"name": "dshm", "mountPath": "/dev/shm"}],
            **valuesfiles._probes(port)}


def pd_sidecar(profile) -> dict[str, Any]:
    """The routing proxy as llm-d's P/D recipe renders it (guides/recipes/modelserver/base/
    single-host/pd/vllm/patch-sidecar.yaml): no --tracing, no env. Only the pull policy differs
    (the recipe's Always would refuse a --load-image build)."""
    port = valuesfiles.SERVICE_PORT
    return {"name": "routing-proxy", "args": [f"--port={port}", "--kv-connector=nixlv2", "--zap-log-level=1",
                                              "--secure-serving=false"],
            "image": profile.images["routing-proxy"], "imagePullPolicy": "IfNotPresent",
            "ports": [{"containerPort": port, "name": "sidecar", "protocol": "TCP"}], "resources": {},
            "restartPolicy": "Always",
            "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True}}


def _unknown_flags(profile) -> str:
    """A note (not a refusal: it is the recipe's render) for sidecar flags the pinned image does not list."""
    accepted = profile.image_flags.get("routing-proxy")
    flags = [a[2:].split("=", 1)[0] for a in pd_sidecar(profile)["args"]]
    unknown = [f"--{f}" for f in flags if accepted is not None and f not in accepted]
    return (f"; NOTE: {profile.images['routing-proxy']} does not list {', '.join(unknown)} among its flags "
            "(versions.toml): the recipe may target a later sidecar") if unknown else ""


def deployment(name: str, role: str, container: dict[str, Any], init: list[dict[str, Any]], opts) -> dict[str, Any]:
    labels = {"llm-d.ai/role": role, "app.kubernetes.io/part-of": "llmd-trace-e2e"}
    pod_labels = {**valuesfiles.POOL_LABELS, "llm-d.ai/role": role}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": dict(pod_labels)},
                     "template": {"metadata": {"labels": dict(pod_labels)},
                                  "spec": {"initContainers": init, "containers": [container],
                                           "volumes": _volumes(opts)}}}}


def _init_containers(profile, opts, packages: list[str]) -> list[dict[str, Any]]:
    image = profile.images["vllm-gpu" if opts.gpu else "vllm-cpu"]
    init = [valuesfiles.otel_deps_init_container(image, packages)]
    if not opts.gpu:
        init.append(valuesfiles.tiny_model_init_container(image))
    return init


def proxy_env_patch(block: dict[str, Any]) -> dict[str, Any]:
    """The guide's env step for the routing proxy ("Kustomize: container env vars"): env only."""
    env = [{"name": n, "value": v} for n, v in component.guide_step2(block, PROXY_SERVICE)]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": DECODE_NAME, "namespace": NAMESPACE},
            "spec": {"template": {"spec": {"initContainers": [{"name": "routing-proxy", "env": env}]}}}}


def modelserver_block(plan, user_values: list) -> dict[str, Any]:
    """The run's `tracing.*` block: the harness's (sampler 1.0), then each --values file's."""
    path = plan.profile.values_schema["modelservice"].path
    merged = valuesfiles.merged(tracing_values(plan.profile, "modelservice"), user_values, "modelservice")
    return dict(lookup(merged, path) or {})


def _proxy_step(block: dict[str, Any], pd: bool) -> bool:
    """Under P/D the user adds the guide's env step to the proxy, unless tracing is off."""
    return pd and block.get("enabled", True) is not False


def top_kustomization(block: dict[str, Any], base_args: int, traced: str, pd: bool) -> dict[str, Any]:
    """The layer after the component: the run's values as patches (and, under P/D, the user's env
    step for the routing proxy)."""
    patches = component.values_patches(block, base_args)
    if _proxy_step(block, pd):
        patches.append({"path": "user-proxy-env.yaml"})
    return {**KUSTOMIZATION, "resources": [traced], "patches": patches}


def predicted(decode: dict[str, Any], block: dict[str, Any], pd: bool) -> dict[str, Any]:
    """The decode Deployment as the harness predicts `kustomize build` of the layers."""
    out = copy.deepcopy(decode)
    spec = out["spec"]["template"]["spec"]
    spec["containers"][0] = component.predict_container(spec["containers"][0], block)
    if _proxy_step(block, pd):  # a strategic merge: the patched sidecar moves to the front of initContainers
        patch = proxy_env_patch(block)["spec"]["template"]["spec"]["initContainers"]
        spec["initContainers"] = component.merge_named(spec["initContainers"], patch)
    return out


def variant_folder(plan, block: dict[str, Any]) -> Path:
    """A variant's layer (the suite's `platform.variant`): the same base and component as the
    plan's, with `block` as the patch after them; written beside the plan's folder."""
    base = plan.options.rendered_dir / MODELSERVER_DIR
    decode = yaml.safe_load((base / "base" / "decode.yaml").read_text())
    folder = plan.options.rendered_dir / f"{MODELSERVER_DIR}-variant"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "user-proxy-env.yaml").unlink(missing_ok=True)
    if _proxy_step(block, plan.options.pd):
        (folder / "user-proxy-env.yaml").write_text(yamlout.dump(proxy_env_patch(block)))
    args = len(decode["spec"]["template"]["spec"]["containers"][0]["args"])
    (folder / "kustomization.yaml").write_text(yamlout.dump(
        top_kustomization(block, args, f"../{MODELSERVER_DIR}/traced", plan.options.pd)))
    return folder


def modelserver_steps(plan, repo: Path, user_values: list) -> dict[str, Any]:
    opts, profile, steps = plan.options, plan.profile, plan.steps
    source = profile.kustomize["modelserver"]
    block = modelserver_block(plan, user_values)
    packages = valuesfiles.otel_packages(repo / "config" / "python" / "vllm-requirements.txt")
    init = _init_containers(profile, opts, packages)
    port = valuesfiles.VLLM_PORT if opts.pd else valuesfiles.SERVICE_PORT
    decode = deployment(DECODE_NAME, "decode", vllm_container(profile, opts, port),
                        init + ([pd_sidecar(profile)] if opts.pd else []), opts)
    docs, resources = [decode], ["decode.yaml"]
    d = MODELSERVER_DIR
    shows = [_file(plan, f"{d}/base/decode.yaml", decode, "the harness's decode Deployment: labels and container "
                   "layout as llm-d's tracing component requires" + (", the routing proxy as llm-d's P/D recipe "
                                                                      "renders it" + _unknown_flags(profile) if opts.pd else ""))]
    if opts.pd:
        prefill = deployment(PREFILL_NAME, "prefill", vllm_container(
            profile, opts, valuesfiles.SERVICE_PORT, component.guide_step2_args(block),
            component.guide_step2(block, "vllm-prefill", True)), init, opts)
        shows.append(_file(plan, f"{d}/base/prefill.yaml", prefill, f"the prefill Deployment with the guide's Step 2 "
                           f"args and env ({USERS_STEP}: llm-d's component patches only llm-d.ai/role=decode)"))
        docs.append(prefill)
        resources.append("prefill.yaml")
        shows.append(_file(plan, f"{d}/user-proxy-env.yaml", proxy_env_patch(block),
                           f"{USERS_STEP}: the guide's env step for the routing proxy (Kustomize: container env "
                           "vars); the recipe gives it none, and no step gives it --tracing"))
    shows.insert(0, _file(plan, f"{d}/base/kustomization.yaml", {**KUSTOMIZATION, "resources": resources},
                          "the harness's model server"))
    shows.insert(1, _file(plan, f"{d}/traced/kustomization.yaml",
                          {**KUSTOMIZATION, "resources": ["../base"], "components": [source.remote()]},
                          "llm-d's kustomize tracing component (Step 2), fetched at run time at the pinned commit"))
    base_args = len(decode["spec"]["template"]["spec"]["containers"][0]["args"])
    shows.insert(2, _file(plan, f"{d}/kustomization.yaml", top_kustomization(block, base_args, "traced", opts.pd),
                          "the run's tracing values as patches layered after the component (tracing.*)"))
    docs[0] = predicted(decode, block, opts.pd)
    shows.append(_file(plan, f"{d}-predicted.yaml", docs, "what `kustomize build` yields, as the harness predicts it "
                       "(held against the real kustomize by tests/unit/test_kustomize_component.py)"))
    steps.append(Apply(f"vLLM: the harness's Deployment with llm-d's tracing component ({source.shown()})",
                       opts.rendered_dir / d, kustomize=True, shows=tuple(shows)))
    for name in [DECODE_NAME] + ([PREFILL_NAME] if opts.pd else []):
        steps.append(Wait(f"vLLM ready ({name}: image pull, init containers, model load)", "deployments",
                          "model_server_ready", NAMESPACE, name=name))
    return nest(profile.values_schema["modelservice"].path, block)

