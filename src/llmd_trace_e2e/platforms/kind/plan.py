"""The ordered steps of a kind run and the files they apply, built without touching Docker.

`--plan` prints this; `up` executes exactly this, so what a reviewer reads is what runs.
The kustomize profile's steps are kustomize_plan.py's, the step types steps.py's.
Commands name their tool (kind, helm, helmfile, docker) by name; the runner resolves the
binaries (.bin/ from `make tools`) when it executes them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llmd_trace_e2e.deployment import collector_config
from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.deployment.gateway_values import GatewayTracing
from llmd_trace_e2e.deployment.profiles import Profile, load_profile, load_versions
from llmd_trace_e2e.deployment.values import COLLECTOR_ENDPOINT, deep_merge
from llmd_trace_e2e.platforms.kind import chart_files, cluster, kustomize_plan, manifests, valuesfiles
from llmd_trace_e2e.platforms.kind.steps import Apply, Command, Step, Wait  # noqa: F401 - the plan's vocabulary
from llmd_trace_e2e.platforms.kind.options import (
    COLLECTOR_GRPC_PORT, COLLECTOR_HTTP_PORT, GATEWAY_PORT, JAEGER_QUERY_PORT, MONITORING_NAMESPACE,
    NAMESPACE, KindOptions)

ISTIO_NAMESPACE = "istio-system"
DEVICE_PLUGIN_NAMESPACE = "nvidia-device-plugin"
GPU_SETUP_SCRIPT = "clusters/gpu-node-setup.sh"
GPU_SETUP_IN_NODE = "/usr/local/bin/llmd-gpu-node-setup.sh"
REQUIRED_CRDS = ("gateways.gateway.networking.k8s.io", "httproutes.gateway.networking.k8s.io",
                 "inferencepools.inference.networking.k8s.io")




@dataclass
class Plan:
    options: KindOptions
    profile: Profile
    steps: list[Step] = field(default_factory=list)
    files: dict[Path, str] = field(default_factory=dict)  # in the order first written
    images: list[str] = field(default_factory=list)  # what the cluster will pull
    releases: list[tuple[str, str]] = field(default_factory=list)  # (namespace, release)
    values: dict[str, Any] = field(default_factory=dict)  # every chart's merged values (the run's baseline)
    endpoints: dict[str, Any] = field(default_factory=dict)
    stopped_before: Step | None = None  # set by the runner when asked to stop early (the kind rehearsal)
    forwards: Any = None  # an existing cluster's reach.PortForwards, opened by the runner when first needed

    def add_file(self, name: str, text: str) -> Path:
        path = self.options.rendered_dir / name
        self.files[path] = text
        return path

    def gaps(self) -> list:
        """The profile's known gaps of the components this plan deploys (no routing proxy on a
        kustomize profile without P/D: the guide's single-stage overlays deploy none)."""
        absent = {"routing-proxy"} if self.profile.kustomize_modelserver and not self.options.pd else set()
        absent |= {"vllm-prefill"} if not self.options.pd else set()
        return [g for g in self.profile.gaps if set(g.components) - absent]

    def render(self) -> str:
        """Every step in order; each file's content where it is first used."""
        opts, prof = self.options, self.profile
        out = [f"# kind plan: profile {prof.name} ({'GPU' if opts.gpu else 'CPU'}"
               f"{', P/D' if opts.pd else ''}), cluster {opts.cluster_name}",
               f"# {prof.description}"]
        out += [f"#   {k}: {v}" for k, v in prof.versions.items()]
        out += [f"# known gap {g.id} ({', '.join(g.components)}): {g.description}" for g in self.gaps()]
        out.append(f"# kubeconfig: {opts.kubeconfig_path} (context {opts.kube_context or 'from that file'})")
        shown: set[Path] = set()
        for number, step in enumerate(self.steps, 1):
            out.append("")
            out.append(f"[{number}/{len(self.steps)}] {step.title}")
            if isinstance(step, Command):
                when = {"cluster-absent": "  (only if no harness cluster of that name exists)",
                        "cluster-present": "  (only if it exists: reused)"}.get(step.only_if or "", "")
                out.append(f"  $ {step.shell()}{when}")
                referenced = [Path(a) for a in step.argv if Path(a) in self.files] + list(step.shows)
            elif isinstance(step, Apply):
                source = (f" <- {step.url} (fetched at run time)" if step.url else
                          f" <- Go module of versions.toml [crds.modules].{step.module} (--offline)" if step.module
                          else "")
                what = f"`kustomize build {step.path}`" if step.kustomize else str(step.path)
                out.append(f"  apply (server-side) {what}{source}")
                referenced = ([step.path] if step.path in self.files else []) + list(step.shows)
            else:
                target = step.name or step.release or step.url or ", ".join(step.names) or ""
                via = " ({...}: a port-forward through the kubeconfig)" if "{" in (step.url or "") else ""
                out.append(f"  wait: {step.check} {target}{via} (timeout {step.timeout}="
                           f"{getattr(opts.timeouts, step.timeout):g}s)")
                referenced = []
            for path in referenced:
                if path not in shown:
                    shown.add(path)
                    out.append(f"  --- {path} ---")
                    out += ["  " + line for line in self.files[path].rstrip("\n").splitlines()]
        return "\n".join(out) + "\n"


def _helm_common(opts: KindOptions) -> list[str]:
    args = ["--kubeconfig", str(opts.kubeconfig_path)]
    if opts.kube_context:
        args += ["--kube-context", opts.kube_context]
    return args


def _helm_install(opts: KindOptions, release: str, ref: list[str], namespace: str, values: list[Path],
                  extra: list[str] | None = None) -> tuple[str, ...]:
    argv = ["helm", "upgrade", "--install", release, *ref, "--namespace", namespace, "--create-namespace"]
    for path in values:
        argv += ["-f", str(path)]
    return tuple(argv + list(extra or []) + _helm_common(opts))


def _chart_ref(opts: KindOptions, pin) -> list[str]:
    """The chart argument(s) of `helm upgrade --install`: a --chart-dir folder, else (--offline)
    the Go module that serves the chart, else the chart's repository."""
    dirs = dict(opts.chart_dirs)
    if pin.chart in dirs or opts.offline:
        from llmd_trace_e2e.deployment.chart_render import locate_chart

        folder, why = locate_chart(pin.chart, pin.version, dirs)
        if folder is None:
            raise ConfigError(f"--offline: chart {pin.chart} {pin.version} cannot be had here ({why}): "
                              f"pass --chart-dir {pin.chart}=DIR")
        return [str(folder), "--version", pin.version]
    return pin.helm_ref()


def _cluster_config(repo: Path, opts: KindOptions, node_image: str) -> str:
    path = repo / "clusters" / ("kind-gpu.yaml" if opts.gpu else "kind-cpu.yaml")
    text = path.read_text()
    nodes = (yaml.safe_load(text) or {}).get("nodes") or []
    stale = [n.get("image") for n in nodes if n.get("image") != node_image]
    if stale:
        raise ConfigError(f"{path} uses node image {stale[0]}; versions.toml [kind].node_image is {node_image}: "
                          "make them equal")
    return text


def build_plan(opts: KindOptions, profile: Profile | None = None, *, repo: Path | None = None) -> Plan:
    from llmd_trace_e2e.runtime.paths import repo_root

    opts.check()
    repo = repo or repo_root()
    profile = profile or load_profile(opts.profile)
    if profile.platform != "kind":
        raise ConfigError(f"profile {profile.name!r} is for the {profile.platform} platform; "
                          f"the kind platform runs profiles whose platform is kind (e.g. kustomize-guide, helmfile-guide)")
    kustomize_plan.check_options(opts, profile)
    if opts.pd and not profile.supports_pd:
        raise ConfigError(f"profile {profile.name!r} cannot run P/D (its EPP has no prefill/decode plugins): "
                          "use --profile kustomize-guide")
    user_values = [valuesfiles.load_user_values(p, profile) for p in opts.values_files]
    versions = load_versions(repo / "versions.toml")
    node_image = versions.get("kind", {}).get("node_image", "")
    if "@sha256:" not in node_image:
        raise ConfigError("versions.toml [kind].node_image must be pinned by digest (tag@sha256:...)")

    plan = Plan(opts, profile)
    kc = str(opts.kubeconfig_path)
    steps = plan.steps

    # -- the cluster
    if not opts.use_existing_cluster:
        cluster_yaml = plan.add_file("cluster.yaml", _cluster_config(repo, opts, node_image))
        steps.append(Command(  # run by pytest-kind's KindCluster.create (cluster.py), exactly this argv
            f"create kind cluster {opts.cluster_name}",
            cluster.create_argv(opts.cluster_name, opts.kubeconfig_path, cluster_yaml), only_if="cluster-absent"))
        steps.append(Command(
            f"reuse kind cluster {opts.cluster_name}: write its kubeconfig to the run folder",
            ("kind", "export", "kubeconfig", "--name", opts.cluster_name, "--kubeconfig", kc),
            only_if="cluster-present"))
        for image in opts.load_images:
            steps.append(Command(f"load local image {image} into the nodes", cluster.load_argv(opts.cluster_name, image)))
    if opts.gpu:
        _gpu_steps(plan, repo, versions)

    # -- traces backend and collector (the recipe's, in the workload's namespace, for a kustomize profile)
    if "observability" in profile.kustomize:
        collector_image, jaeger_image = kustomize_plan.observability_steps(plan)
    else:
        collector_image, jaeger_image = _backend_steps(plan, repo, versions)

    # -- gateway: Gateway API + InferencePool CRDs, Istio, a Gateway (traced when gateway.tracing says so)
    harness_values: dict[str, Any] = {}
    for uv in user_values:
        harness_values = deep_merge(harness_values, uv.harness)
    gateway_tracing = GatewayTracing.from_values(harness_values)
    crds = versions.get("crds", {})
    for key, name in (("gateway_api", "crds-gateway-api.yaml"), ("inference_extension", "crds-inference-extension.yaml")):
        if key not in crds:
            raise ConfigError(f"versions.toml [crds] lacks {key}")
        if opts.offline:
            steps.append(Apply(f"CRDs: {key.replace('_', ' ')} (from its Go module)", opts.rendered_dir / name,
                               module=key))
        else:
            steps.append(Apply(f"CRDs: {key.replace('_', ' ')}", opts.rendered_dir / name, url=crds[key]))
    steps.append(Wait("CRDs established", "crds", "crds_established", names=REQUIRED_CRDS))
    istio_base = _chart(versions, "istio-base")
    istiod = _chart(versions, "istiod")
    steps.append(Command("Istio CRDs (istio/base)", _helm_install(opts, "istio-base", _chart_ref(opts, istio_base),
                                                                 ISTIO_NAMESPACE, [])))
    istiod_values = plan.add_file("values-istiod.yaml", valuesfiles.to_yaml(
        manifests.istiod_values(gateway_tracing, kustomize_plan.collector_host(profile)), "istiod: the gateway implementation, with the inference extension on"))
    steps.append(Command("Istio control plane (istio/istiod)", _helm_install(opts, "istiod", _chart_ref(opts, istiod),
                                                                            ISTIO_NAMESPACE, [istiod_values])))
    steps.append(Wait("istiod ready", "deployments", "istiod_ready", ISTIO_NAMESPACE, name="istiod"))
    plan.releases += [(ISTIO_NAMESPACE, "istio-base"), (ISTIO_NAMESPACE, "istiod")]
    steps.append(Apply("Gateway and its host NodePort", plan.add_file(
        "20-gateway.yaml", manifests.dump_all(manifests.gateway(gateway_tracing)))))
    steps.append(Wait("Gateway programmed", "gateway", "gateway_programmed", NAMESPACE, name=manifests.GATEWAY_NAME))

    # -- llm-d: EPP chart, HTTPRoute, llm-d-modelservice (or the user's helmfile)
    if opts.helmfile:
        _helmfile_steps(plan, profile, user_values)
    else:
        _chart_steps(plan, profile, repo, user_values)

    model = None if opts.helmfile else (valuesfiles.GPU_MODEL_NAME if opts.gpu else valuesfiles.TINY_MODEL_NAME)
    # A harness cluster maps its NodePorts to 127.0.0.1; an existing one is reached through its
    # kubeconfig: a port-forward per Service, opened at run time (reach.py), fills in {NAME}.
    existing = opts.use_existing_cluster
    urls = {name: ("{%s}" % name) if existing else f"http://127.0.0.1:{port}" for name, port in (
        ("gateway_url", GATEWAY_PORT), ("jaeger_query_url", JAEGER_QUERY_PORT),
        ("collector_otlp_grpc", COLLECTOR_GRPC_PORT), ("collector_otlp_http", COLLECTOR_HTTP_PORT))}
    steps.append(Wait("the gateway serves the model", "http", "model_served", url=f"{urls['gateway_url']}/v1/models",
                      expect=model))
    plan.images = _images(plan, profile, opts, collector_image, jaeger_image, istiod.version)
    # the recipe's collector and Jaeger run in the workload's namespace (kustomize-guide)
    recipe = "observability" in profile.kustomize
    backend_ns = NAMESPACE if recipe else MONITORING_NAMESPACE
    collector = kustomize_plan.RECIPE_COLLECTOR if recipe else manifests.COLLECTOR_NAME
    plan.endpoints = {
        "reach": "port-forward" if existing else "node-ports",
        **urls,
        "forwards": {  # (namespace, Service, port) behind each URL, for a port-forward
            "gateway_url": (NAMESPACE, f"{manifests.GATEWAY_NAME}-host", 80),
            "jaeger_query_url": (backend_ns, manifests.JAEGER_SERVICE, manifests.JAEGER_QUERY_SERVICE_PORT),
            "collector_otlp_grpc": (backend_ns, collector, 4317),
            "collector_otlp_http": (backend_ns, collector, 4318),
        },
        "in_cluster": {
            "gateway": f"{manifests.GATEWAY_NAME}-host.{NAMESPACE}.svc:80",
            "jaeger_query": f"{manifests.JAEGER_SERVICE}.{backend_ns}.svc:{manifests.JAEGER_QUERY_SERVICE_PORT}",
            "collector_otlp_grpc": profile.collector_endpoint or COLLECTOR_ENDPOINT,
        },
        "model": model,
        "namespace": NAMESPACE,
        "kubeconfig": kc,
        "context": opts.kube_context,
        "profile": profile.name,
    }
    return plan


def _backend_steps(plan: Plan, repo: Path, versions: dict[str, Any]) -> tuple[str, str]:
    opts, steps = plan.options, plan.steps
    plan.add_file("00-namespaces.yaml", manifests.dump_all(manifests.namespaces(MONITORING_NAMESPACE, NAMESPACE)))
    steps.append(Apply("namespaces", opts.rendered_dir / "00-namespaces.yaml"))
    jaeger_image = _image(versions, "jaeger")
    collector_image = _image(versions, "collector")
    steps.append(Apply("Jaeger v2 (memory storage)", plan.add_file(
        "10-jaeger.yaml", manifests.dump_all(manifests.jaeger(jaeger_image)))))
    steps.append(Wait("Jaeger ready", "deployments", "jaeger_ready", MONITORING_NAMESPACE, name="jaeger"))
    config_path = opts.collector_config or repo / "config" / "collector" / "guide.yaml"
    config_text = collector_config.read_collector_config(config_path)
    config = collector_config.parse_collector_config(config_text, str(config_path))
    steps.append(Apply(f"OpenTelemetry Collector with {config_path}", plan.add_file(
        "11-collector.yaml", manifests.dump_all(manifests.collector(collector_image, config_text, config)))))
    steps.append(Wait("collector ready", "deployments", "collector_ready", MONITORING_NAMESPACE,
                      name=manifests.COLLECTOR_NAME))
    return collector_image, jaeger_image


def _chart(versions: dict[str, Any], key: str):
    from llmd_trace_e2e.deployment.profiles import resolve_chart

    return resolve_chart(versions, key)


def _image(versions: dict[str, Any], key: str) -> str:
    from llmd_trace_e2e.deployment.profiles import resolve_image

    return resolve_image(versions, key)


def _gpu_steps(plan: Plan, repo: Path, versions: dict[str, Any]) -> None:
    opts, steps = plan.options, plan.steps
    needed = 2 if opts.pd else 1
    if not opts.use_existing_cluster:
        worker = f"{opts.cluster_name}-worker"
        script = repo / GPU_SETUP_SCRIPT
        steps.append(Command("copy the GPU node set-up script into the worker",
                             ("docker", "cp", str(script), f"{worker}:{GPU_SETUP_IN_NODE}")))
        steps.append(Command("install the NVIDIA container toolkit in the worker; nvidia becomes containerd's default runtime",
                             ("docker", "exec", worker, "bash", GPU_SETUP_IN_NODE)))
        plugin = _chart(versions, "nvidia-device-plugin")
        plugin_values = plan.add_file("values-device-plugin.yaml", valuesfiles.to_yaml(
            manifests.device_plugin_values(), "NVIDIA device plugin on the harness's GPU node"))
        steps.append(Command("NVIDIA device plugin", _helm_install(opts, "nvidia-device-plugin", _chart_ref(opts, plugin),
                                                                   DEVICE_PLUGIN_NAMESPACE, [plugin_values])))
        steps.append(Wait("device plugin running", "daemonset", "device_plugin_ready", DEVICE_PLUGIN_NAMESPACE,
                          release="nvidia-device-plugin"))
        plan.releases.append((DEVICE_PLUGIN_NAMESPACE, "nvidia-device-plugin"))
    steps.append(Wait(f"{needed} nvidia.com/gpu allocatable", "gpus", "gpu_allocatable", count=needed))


def _user_value_files(plan: Plan, user_values: list, part: str) -> list[Path]:
    paths = []
    for number, uv in enumerate(user_values, 1):
        values = getattr(uv, part)
        if values:
            paths.append(plan.add_file(f"user-{number:02d}-{part}.yaml",
                                       valuesfiles.to_yaml(values, f"{part} part of {uv.source}")))
    return paths


def _chart_steps(plan: Plan, profile: Profile, repo: Path, user_values: list) -> None:
    epp_merged = _epp_steps(plan, profile, repo, user_values)
    if profile.kustomize_modelserver:
        ms_merged = kustomize_plan.modelserver_steps(plan, repo, user_values)
    else:
        ms_merged = _modelservice_steps(plan, profile, repo, user_values)
    plan.values = {**epp_merged, **ms_merged, **valuesfiles.merged({}, user_values, "harness")}


def _epp_steps(plan: Plan, profile: Profile, repo: Path, user_values: list) -> dict[str, Any]:
    opts, steps = plan.options, plan.steps
    if not opts.gpu:
        script = (repo / "scripts" / "make_tiny_model.py").read_text()
        steps.append(Apply("the tiny-model generator script (for the vLLM init container)", plan.add_file(
            "30-tiny-model-script.yaml", manifests.dump_all(manifests.tiny_model_script(script)))))
    epp_chart = profile.charts["epp"]
    epp_base = valuesfiles.epp_values(profile, opts)
    epp_values = plan.add_file("values-epp.yaml", valuesfiles.to_yaml(
        epp_base, f"{epp_chart.chart} {epp_chart.version}: EPP with tracing on ({profile.values_schema['epp'].path})"))
    epp_merged = valuesfiles.merged(epp_base, user_values, "epp")
    epp_render = chart_files.rendered_file(plan, epp_chart, valuesfiles.EPP_RELEASE, epp_merged)
    steps.append(Command(f"EPP and InferencePool ({epp_chart.chart} {epp_chart.version})", _helm_install(
        opts, valuesfiles.EPP_RELEASE, _chart_ref(opts, epp_chart), NAMESPACE,
        [epp_values, *_user_value_files(plan, user_values, "epp")]), shows=(epp_render,)))
    steps.append(Wait("EPP ready", "deployments", "epp_ready", NAMESPACE, release=valuesfiles.EPP_RELEASE))
    steps.append(Apply("HTTPRoute from the Gateway to the InferencePool", plan.add_file(
        "40-httproute.yaml", manifests.dump_all(manifests.httproute(valuesfiles.EPP_RELEASE)))))
    plan.releases.append((NAMESPACE, valuesfiles.EPP_RELEASE))
    return epp_merged


def _modelservice_steps(plan: Plan, profile: Profile, repo: Path, user_values: list) -> dict[str, Any]:
    opts, steps = plan.options, plan.steps
    ms_chart = profile.charts["modelservice"]
    packages = valuesfiles.otel_packages(repo / "config" / "python" / "vllm-requirements.txt")
    ms_base = valuesfiles.modelservice_values(profile, opts, packages)
    ms_values = plan.add_file("values-modelservice.yaml", valuesfiles.to_yaml(
        ms_base, f"{ms_chart.chart} {ms_chart.version}: vLLM and routing proxy with tracing on "
                 f"({profile.values_schema['modelservice'].path})"))
    ms_merged = valuesfiles.merged(ms_base, user_values, "modelservice")
    ms_render = chart_files.rendered_file(plan, ms_chart, valuesfiles.MODELSERVICE_RELEASE, ms_merged,
                                          profile.post_render)
    steps.append(Command(f"vLLM via {ms_chart.chart} {ms_chart.version}", _helm_install(
        opts, valuesfiles.MODELSERVICE_RELEASE, _chart_ref(opts, ms_chart), NAMESPACE,
        [ms_values, *_user_value_files(plan, user_values, "modelservice")],
        chart_files.post_renderer_args(profile.post_render)), shows=(ms_render,)))
    steps.append(Wait("vLLM ready (image pull, init containers, model load)", "deployments", "model_server_ready",
                      NAMESPACE, release=valuesfiles.MODELSERVICE_RELEASE))
    plan.releases.append((NAMESPACE, valuesfiles.MODELSERVICE_RELEASE))
    return ms_merged


def _helmfile_steps(plan: Plan, profile: Profile, user_values: list) -> None:
    """A guide's own helmfile, with the tracing values layered on every release it installs."""
    opts, steps = plan.options, plan.steps
    tracing = valuesfiles.deep_merge(valuesfiles.tracing_values(profile, "modelservice"),
                                     valuesfiles.tracing_values(profile, "epp"))
    tracing_file = plan.add_file("values-tracing.yaml", valuesfiles.to_yaml(
        tracing, f"tracing values for profile {profile.name}, layered on every release of {opts.helmfile}"))
    argv = ["helmfile", "--file", str(opts.helmfile), "--namespace", NAMESPACE, "--helm-binary", "{helm}",
            "--kubeconfig", str(opts.kubeconfig_path)]
    if opts.kube_context:
        argv += ["--kube-context", opts.kube_context]
    argv += ["sync", "--values", str(tracing_file)]
    for path in opts.values_files:
        argv += ["--values", str(path)]
    steps.append(Command(f"the guide's helmfile {opts.helmfile}", tuple(argv)))
    steps.append(Apply("HTTPRoute from the Gateway to the helmfile's InferencePool", plan.add_file(
        "40-httproute.yaml", manifests.dump_all(manifests.httproute(opts.pool or "")))))
    steps.append(Wait("every Deployment in the namespace ready", "deployments", "model_server_ready", NAMESPACE))


def _images(plan: Plan, profile: Profile, opts: KindOptions, collector: str, jaeger: str, istio_version: str) -> list[str]:
    images = [jaeger, collector, f"istio/pilot:{istio_version}", f"istio/proxyv2:{istio_version}"]
    if not opts.helmfile:
        proxy = [] if profile.kustomize_modelserver and not opts.pd else [profile.images["routing-proxy"]]
        images += [profile.images["epp"], *proxy, profile.images["vllm-gpu" if opts.gpu else "vllm-cpu"]]
    return [i for i in dict.fromkeys(images) if i not in opts.load_images]
