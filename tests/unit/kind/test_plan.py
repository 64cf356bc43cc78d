"""The kind plan for both profiles and both node types: what `make e2e` would do, checked here
where no container engine runs. The kustomize-guide profile's own steps: tests/unit/kind/test_kustomize_plan.py."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.deployment import values as helm_values
from llmd_trace_e2e.platforms.kind import manifests, valuesfiles
from llmd_trace_e2e.platforms.kind.cli import kind_main
from llmd_trace_e2e.platforms.kind.options import Timeouts
from llmd_trace_e2e.platforms.kind.ports import COLLECTOR_GRPC_PORT, COLLECTOR_HTTP_PORT, GATEWAY_PORT, JAEGER_QUERY_PORT
from llmd_trace_e2e.platforms.kind.plan import Apply, Command, Wait
from llmd_trace_e2e.runtime.paths import repo_root
from llmd_trace_e2e.deployment.profiles import load_profile, load_versions

from .conftest import rendered

NODE_TYPES = [pytest.param({}, id="cpu"), pytest.param({"gpu": True}, id="gpu")]
PROFILES = ["helmfile-guide", "kustomize-guide"]
KUSTOMIZE = "kustomize-guide"


def titles(plan) -> list[str]:
    return [s.title for s in plan.steps]


def index_of(plan, predicate) -> int:
    matches = [i for i, s in enumerate(plan.steps) if predicate(s)]
    assert matches, f"no step matches; steps: {titles(plan)}"
    return matches[0]


def helm_step(plan, release: str) -> Command:
    return plan.steps[index_of(plan, lambda s: isinstance(s, Command) and s.argv[:4] == ("helm", "upgrade",
                                                                                          "--install", release))]


def kustomize_step(plan, folder: str) -> Apply:
    return plan.steps[index_of(plan, lambda s: isinstance(s, Apply) and s.kustomize and s.path.name == folder)]


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("node", NODE_TYPES)
def test_steps_run_in_dependency_order(make_plan, profile, node):
    plan = make_plan(profile, **node)
    if profile == KUSTOMIZE:
        backend = [plan.steps.index(kustomize_step(plan, "recipe")),
                   index_of(plan, lambda s: isinstance(s, Wait) and s.name == "jaeger"),
                   index_of(plan, lambda s: isinstance(s, Wait) and s.name == "otel-collector")]
        model_server = [plan.steps.index(kustomize_step(plan, "modelserver")),
                        index_of(plan, lambda s: isinstance(s, Wait) and s.name == "trace-e2e-decode")]
    else:
        backend = [index_of(plan, lambda s: isinstance(s, Apply) and s.path.name == "10-jaeger.yaml"),
                   index_of(plan, lambda s: isinstance(s, Wait) and s.name == "jaeger"),
                   index_of(plan, lambda s: isinstance(s, Apply) and s.path.name == "11-collector.yaml"),
                   index_of(plan, lambda s: isinstance(s, Wait) and s.name == manifests.COLLECTOR_NAME)]
        model_server = [plan.steps.index(helm_step(plan, valuesfiles.MODELSERVICE_RELEASE)),
                        index_of(plan, lambda s: isinstance(s, Wait) and s.release == valuesfiles.MODELSERVICE_RELEASE)]
    order = [
        index_of(plan, lambda s: isinstance(s, Command) and s.argv[:3] == ("kind", "create", "cluster")),
        *backend,
        index_of(plan, lambda s: isinstance(s, Apply) and s.url is not None),
        index_of(plan, lambda s: isinstance(s, Wait) and s.check == "crds"),
        index_of(plan, lambda s: isinstance(s, Command) and "istiod" in s.argv),
        index_of(plan, lambda s: isinstance(s, Wait) and s.check == "gateway"),
        plan.steps.index(helm_step(plan, valuesfiles.EPP_RELEASE)),
        index_of(plan, lambda s: isinstance(s, Wait) and s.release == valuesfiles.EPP_RELEASE),
        index_of(plan, lambda s: isinstance(s, Apply) and s.path.name == "40-httproute.yaml"),
        *model_server,
        index_of(plan, lambda s: isinstance(s, Wait) and s.check == "http"),
    ]
    assert order == sorted(order), titles(plan)
    assert isinstance(plan.steps[-1], Wait) and plan.steps[-1].check == "http"
    if node:
        gpu_ready = index_of(plan, lambda s: isinstance(s, Wait) and s.check == "gpus")
        assert order[0] < gpu_ready < order[-1]


def test_collector_configmap_carries_the_repos_config_verbatim(make_plan):
    plan = make_plan("helmfile-guide")
    configmap, deployment, service, host_service = rendered(plan, "11-collector.yaml")
    repo_config = (repo_root() / "config" / "collector" / "guide.yaml").read_text()
    assert configmap["data"][manifests.COLLECTOR_CONFIG_KEY] == repo_config
    assert "filter/drop-metrics-scraping" in configmap["data"][manifests.COLLECTOR_CONFIG_KEY]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == [f"--config=/conf/{manifests.COLLECTOR_CONFIG_KEY}"]
    # the Service answers at the tracing guide's default endpoint
    assert (service["metadata"]["name"], service["metadata"]["namespace"]) == ("opentelemetry-collector", "monitoring")
    assert helm_values.COLLECTOR_ENDPOINT == "http://opentelemetry-collector.monitoring.svc.cluster.local:4317"
    # and the config's exporter reaches the Jaeger Service the plan creates
    jaeger_service = rendered(plan, "10-jaeger.yaml")[1]
    assert jaeger_service["metadata"]["name"] == manifests.JAEGER_SERVICE
    assert {p["nodePort"] for p in host_service["spec"]["ports"]} == {COLLECTOR_GRPC_PORT, COLLECTOR_HTTP_PORT}


def test_collector_config_option_is_deployed_verbatim(make_plan, tmp_path):
    text = (repo_root() / "config" / "collector" / "guide.yaml").read_text() + "# a user's variant\n"
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    configmap = rendered(make_plan("helmfile-guide", collector_config=path), "11-collector.yaml")[0]
    assert configmap["data"][manifests.COLLECTOR_CONFIG_KEY] == text
    for profile in PROFILES:
        with pytest.raises(ConfigError, match="cannot read collector config"):
            make_plan(profile, collector_config=tmp_path / "absent.yaml")


def test_collector_config_pointing_elsewhere_goes_to_the_runs_jaeger_as_written_otherwise():
    """The same adaptation as the local platform's: only the receiver's listen address and the
    backend exporters' destination change (TLS and headers set aside, said in the header)."""
    from llmd_trace_e2e.deployment.collector_config import parse_collector_config

    text = (repo_root() / "tests" / "data" / "collector-configs" / "forward-two-stage.yaml").read_text()
    config = parse_collector_config(text, "forward.yaml")
    configmap = manifests.collector("otel/opentelemetry-collector-contrib:0.161.0", text, config)[0]
    deployed = configmap["data"][manifests.COLLECTOR_CONFIG_KEY]
    body = yaml.safe_load(deployed)
    assert body["exporters"]["otlp/backend"] == {
        "endpoint": "jaeger-collector.monitoring.svc.cluster.local:4317", "tls": {"insecure": True}}, deployed
    assert body["service"] == config.body["service"] and body["connectors"] == config.body["connectors"]
    assert body["processors"] == config.body["processors"] and body["extensions"] == config.body["extensions"]
    assert "# run as written, except: exporter otlp/backend: tls, headers set aside" in deployed


@pytest.mark.parametrize("node", NODE_TYPES)
def test_tracing_values_use_the_profiles_schema(make_plan, node):
    profile = "helmfile-guide"
    plan = make_plan(profile, **node)
    prof = load_profile(profile)
    ms = rendered(plan, "values-modelservice.yaml")
    tracing = helm_values.lookup(ms, prof.values_schema["modelservice"].path)
    assert tracing["enabled"] is True
    assert tracing["otlpEndpoint"] == helm_values.COLLECTOR_ENDPOINT
    assert tracing["sampling"] == {"sampler": "parentbased_traceidratio", "samplerArg": "1.0"}
    # llm-d-modelservice v0.4.5's schema refuses routingProxy (the guide's own key)
    assert tracing["serviceNames"] == {"vllmDecode": prof.services["vllm-decode"], "vllmPrefill": prof.services["vllm-prefill"]}
    assert helm_values.lookup(ms, "tracing") is None, "only the chart version's own tracing path is set"
    epp = rendered(plan, "values-epp.yaml")
    epp_tracing = helm_values.lookup(epp, prof.values_schema["epp"].path)
    assert epp_tracing == {"enabled": True, "otelExporterEndpoint": helm_values.COLLECTOR_ENDPOINT,
                           "sampling": {"sampler": "parentbased_traceidratio", "samplerArg": "1.0"}}
    # the chart injects tracing args only for these model commands (the guide: never for custom)
    assert ms["decode"]["containers"][0]["modelCommand"] == "vllmServe"


def test_profiles_pick_their_charts(make_plan):
    guide, current = make_plan("helmfile-guide"), make_plan(KUSTOMIZE)
    assert "oci://registry.k8s.io/gateway-api-inference-extension/charts/inferencepool" in \
        helm_step(guide, valuesfiles.EPP_RELEASE).argv
    assert "oci://ghcr.io/llm-d/charts/llm-d-router-gateway" in helm_step(current, valuesfiles.EPP_RELEASE).argv
    versions = load_versions()
    argv = helm_step(guide, valuesfiles.MODELSERVICE_RELEASE).argv
    assert argv[argv.index("--version") + 1] == versions["charts"]["llm-d-modelservice-guide"]["version"]
    assert not any(isinstance(s, Command) and valuesfiles.MODELSERVICE_RELEASE in s.argv for s in current.steps), \
        "the current guide deploys no llm-d-modelservice (deprecated from llm-d v0.7)"


def _images_in(node) -> list[str]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "image" and isinstance(value, str):
                found.append(value)
            elif key == "image" and isinstance(value, dict) and "tag" in value:
                found.append(f"{value.get('hub') or value.get('registry')}/{value.get('name') or value.get('repository')}"
                             f":{value['tag']}")
            else:
                found += _images_in(value)
    elif isinstance(node, list):
        for item in node:
            found += _images_in(item)
    return found


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("node", NODE_TYPES)
def test_every_image_is_pinned(make_plan, profile, node):
    plan = make_plan(profile, **node)
    images = []
    for path, text in plan.files.items():
        for doc in yaml.safe_load_all(text):
            images += _images_in(doc)
    assert images, "the plan renders images"
    for image in images + plan.images:
        name, _, tag = image.rpartition(":")
        assert name and tag and "/" not in tag, f"{image} has no tag"
        assert tag != "latest" and not tag.startswith("main"), f"{image} is not pinned"
    node_images = [n["image"] for n in rendered(plan, "cluster.yaml")["nodes"]]
    assert all(re.search(r"@sha256:[0-9a-f]{64}$", i) for i in node_images), node_images


def test_cluster_files_use_the_versions_toml_node_image():
    node_image = load_versions()["kind"]["node_image"]
    assert re.fullmatch(r"kindest/node:v[\d.]+@sha256:[0-9a-f]{64}", node_image)
    for name in ("kind-cpu.yaml", "kind-gpu.yaml"):
        nodes = yaml.safe_load((repo_root() / "clusters" / name).read_text())["nodes"]
        assert [n["image"] for n in nodes] == [node_image] * len(nodes), name


@pytest.mark.parametrize("node", NODE_TYPES)
@pytest.mark.parametrize("profile", PROFILES)
def test_ports_reach_the_host_on_loopback_only(make_plan, node, profile):
    plan = make_plan(profile, **node)
    mappings = [m for n in rendered(plan, "cluster.yaml")["nodes"] for m in n.get("extraPortMappings", [])]
    assert mappings
    assert {m["listenAddress"] for m in mappings} == {"127.0.0.1"}
    assert {m["hostPort"] for m in mappings} == {GATEWAY_PORT, JAEGER_QUERY_PORT, COLLECTOR_GRPC_PORT,
                                                   COLLECTOR_HTTP_PORT}
    node_ports = set()
    for path, text in plan.files.items():
        for doc in yaml.safe_load_all(text):
            if isinstance(doc, dict) and doc.get("kind") == "Service" and doc["spec"].get("type") == "NodePort":
                node_ports |= {p["nodePort"] for p in doc["spec"]["ports"]}
    assert node_ports == {m["containerPort"] for m in mappings}
    assert plan.endpoints["gateway_url"] == f"http://127.0.0.1:{GATEWAY_PORT}"


def test_cpu_plan_generates_the_tiny_model_in_an_init_container(make_plan):
    plan = make_plan("helmfile-guide")
    script = (repo_root() / "scripts" / "make_tiny_model.py").read_text()
    assert rendered(plan, "30-tiny-model-script.yaml")["data"]["make_tiny_model.py"] == script
    ms = rendered(plan, "values-modelservice.yaml")
    init = {c["name"]: c for c in ms["decode"]["initContainers"]}
    assert init["tiny-model"]["command"] == ["python3", "/scripts/make_tiny_model.py", "/model-cache/tiny-llama"]
    assert init["tiny-model"]["image"] == load_profile("helmfile-guide").images["vllm-cpu"]
    assert ms["modelArtifacts"]["uri"] == "hf:///model-cache/tiny-llama"
    env = {e["name"]: e["value"] for e in ms["decode"]["containers"][0]["env"]}
    assert env["HF_HUB_OFFLINE"] == "1"
    assert "nvidia.com/gpu" not in str(ms["decode"]["containers"][0]["resources"])
    assert not any(isinstance(s, Wait) and s.check == "gpus" for s in plan.steps)


def test_gpu_plan_has_device_plugin_and_gpu_requests(make_plan):
    profile = "helmfile-guide"
    plan = make_plan(profile, gpu=True)
    worker = next(n for n in rendered(plan, "cluster.yaml")["nodes"] if n["role"] == "worker")
    assert {"hostPath": "/dev/null", "containerPath": "/var/run/nvidia-container-devices/all"} in worker["extraMounts"]
    plugin = helm_step(plan, "nvidia-device-plugin")
    assert plugin.argv[plugin.argv.index("--version") + 1] == load_versions()["charts"]["nvidia-device-plugin"]["version"]
    assert rendered(plan, "values-device-plugin.yaml")["nodeSelector"] == {"llmd-trace-e2e.llm-d.ai/gpu-node": "true"}
    assert any(isinstance(s, Command) and s.argv[:2] == ("docker", "exec") for s in plan.steps)
    gpus = next(s for s in plan.steps if isinstance(s, Wait) and s.check == "gpus")
    assert gpus.count == 1
    ms = rendered(plan, "values-modelservice.yaml")
    vllm = ms["decode"]["containers"][0]
    assert vllm["resources"]["requests"]["nvidia.com/gpu"] == "1"
    assert vllm["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert vllm["image"] == load_profile(profile).images["vllm-gpu"]
    assert ms["modelArtifacts"]["uri"] == f"hf://{valuesfiles.GPU_MODEL_NAME}"
    assert "tiny-model" not in [c["name"] for c in ms["decode"]["initContainers"]]
    assert ms["prefill"]["create"] is False


def test_pd_is_refused_where_it_cannot_run(make_plan):
    with pytest.raises(ConfigError, match="--pd needs --gpu"):
        make_plan(KUSTOMIZE, pd=True)
    with pytest.raises(ConfigError, match="cannot run P/D"):
        make_plan("helmfile-guide", gpu=True, pd=True)


@pytest.mark.parametrize("profile", PROFILES)
def test_render_shows_every_command_and_every_file(make_plan, profile):
    plan = make_plan(profile, gpu=True, load_images=("localhost/epp:pr-123",))
    text = plan.render()
    for step in plan.steps:
        assert step.title in text
        if isinstance(step, Command):
            assert step.shell() in text
    for path, content in plan.files.items():
        assert f"--- {path} ---" in text
        assert all(line in text for line in content.splitlines() if line.strip())
    assert "kind load docker-image --name llmd-trace-e2e localhost/epp:pr-123" in text
    assert "localhost/epp:pr-123" not in plan.images  # loaded, so not pulled


def test_kind_create_uses_the_runs_own_kubeconfig(make_plan, tmp_path):
    plan = make_plan(KUSTOMIZE)
    create = plan.steps[0]
    assert create.only_if == "cluster-absent"
    kubeconfig = str(plan.options.run_dir / "kubeconfig")
    assert f"--kubeconfig={kubeconfig}" in create.argv
    for step in plan.steps:
        if isinstance(step, Command) and step.argv[0] == "helm":
            assert step.argv[step.argv.index("--kubeconfig") + 1] == kubeconfig
            assert step.argv[step.argv.index("--kube-context") + 1] == "kind-llmd-trace-e2e"


def test_existing_cluster_plan_creates_no_cluster(make_plan, tmp_path):
    kubeconfig = tmp_path / "shared.kubeconfig"
    plan = make_plan(KUSTOMIZE, gpu=True, use_existing_cluster=True, kubeconfig=kubeconfig, context="gpu-lab")
    assert not any(isinstance(s, Command) and s.argv[0] in ("kind", "docker") for s in plan.steps)
    assert "cluster.yaml" not in {p.name for p in plan.files}
    helm = helm_step(plan, valuesfiles.EPP_RELEASE).argv
    assert helm[helm.index("--kubeconfig") + 1] == str(kubeconfig)
    assert helm[helm.index("--kube-context") + 1] == "gpu-lab"
    assert any(isinstance(s, Wait) and s.check == "gpus" for s in plan.steps)
    assert plan.endpoints["reach"] == "port-forward" and plan.endpoints["gateway_url"] == "{gateway_url}"
    [served] = [s for s in plan.steps if isinstance(s, Wait) and s.check == "http"]
    assert served.url == "{gateway_url}/v1/models", "the model check goes through the port-forward"


def test_existing_cluster_needs_an_explicit_kubeconfig_or_context(make_plan):
    with pytest.raises(ConfigError, match="never falls back to your current context"):
        make_plan(KUSTOMIZE, use_existing_cluster=True)


def test_user_values_are_checked_split_and_layered_last(make_plan, tmp_path):
    values = tmp_path / "override.yaml"
    values.write_text(yaml.safe_dump({
        "global": {"tracing": {"otlpEndpoint": "http://my-collector.observability.svc.cluster.local:4317"}},
        "inferenceExtension": {"flags": {"v": 4}},
    }))
    plan = make_plan("helmfile-guide", values_files=(values,))
    ms_argv = helm_step(plan, valuesfiles.MODELSERVICE_RELEASE).argv
    epp_argv = helm_step(plan, valuesfiles.EPP_RELEASE).argv
    ms_files = [Path(ms_argv[i + 1]).name for i, a in enumerate(ms_argv) if a == "-f"]
    epp_files = [Path(epp_argv[i + 1]).name for i, a in enumerate(epp_argv) if a == "-f"]
    assert ms_files == ["values-modelservice.yaml", "user-01-modelservice.yaml"]
    assert epp_files == ["values-epp.yaml", "user-01-epp.yaml"]
    assert rendered(plan, "user-01-modelservice.yaml") == {"global": {"tracing": {
        "otlpEndpoint": "http://my-collector.observability.svc.cluster.local:4317"}}}
    assert rendered(plan, "user-01-epp.yaml") == {"inferenceExtension": {"flags": {"v": 4}}}


def test_misspelled_tracing_key_names_the_fix(make_plan, tmp_path):
    values = tmp_path / "typo.yaml"
    values.write_text("tracing:\n  enable: true\n")
    with pytest.raises(helm_values.ValuesError, match=r"tracing\.enable has no meaning for a kustomize model server .*"
                                                       r"did you mean tracing\.enabled\?"):
        make_plan(KUSTOMIZE, values_files=(values,))
    values.write_text("router:\n  tracing:\n    sampling:\n      samplerArgs: '0.5'\n")
    with pytest.raises(helm_values.ValuesError, match=r"did you mean router\.tracing\.sampling\.samplerArg\?"):
        make_plan(KUSTOMIZE, values_files=(values,))
    values.write_text("global:\n  tracing:\n    sampling:\n      samplerArgs: '0.5'\n")
    with pytest.raises(helm_values.ValuesError, match=r"did you mean global\.tracing\.sampling\.samplerArg\?"):
        make_plan("helmfile-guide", values_files=(values,))


def test_tracing_block_of_another_chart_version_is_refused(make_plan, tmp_path):
    values = tmp_path / "old-schema.yaml"
    values.write_text("tracing:\n  enabled: true\n")
    with pytest.raises(helm_values.ValuesError, match=r"sets tracing\.\* but profile helmfile-guide's modelservice "
                                                       r"chart reads global\.tracing\.\*"):
        make_plan("helmfile-guide", values_files=(values,))
    values.write_text("router:\n  tracing:\n    enabled: true\n")
    with pytest.raises(helm_values.ValuesError, match=r"reads inferenceExtension\.tracing"):
        make_plan("helmfile-guide", values_files=(values,))


def test_helmfile_layers_tracing_values_on_the_guides_releases(make_plan, tmp_path):
    helmfile = tmp_path / "helmfile.yaml.gotmpl"
    helmfile.write_text("releases: []\n")
    with pytest.raises(ConfigError, match="--helmfile needs --pool"):
        make_plan("helmfile-guide", helmfile=helmfile)
    plan = make_plan("helmfile-guide", helmfile=helmfile, pool="gaie-inference-scheduling")
    sync = next(s for s in plan.steps if isinstance(s, Command) and s.argv[0] == "helmfile")
    assert sync.argv[sync.argv.index("--file") + 1] == str(helmfile)
    assert "sync" in sync.argv
    tracing = rendered(plan, "values-tracing.yaml")
    assert tracing["global"]["tracing"]["enabled"] is True
    assert tracing["inferenceExtension"]["tracing"]["enabled"] is True
    route = rendered(plan, "40-httproute.yaml")
    assert route["spec"]["rules"][0]["backendRefs"][0]["name"] == "gaie-inference-scheduling"
    assert not any(isinstance(s, Command) and s.argv[:2] == ("helm", "upgrade") and
                   valuesfiles.MODELSERVICE_RELEASE in s.argv for s in plan.steps)


def test_timeouts_are_named_and_overridable():
    assert Timeouts().with_overrides(["model-server-ready=60"]).model_server_ready == 60
    with pytest.raises(ConfigError, match="NAME one of"):
        Timeouts().with_overrides(["vllm=60"])


def test_cli_plan_prints_the_plan(capsys, tmp_path):
    assert kind_main(["--plan", "--profile", "helmfile-guide", "--artifacts", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# kind plan: profile helmfile-guide (CPU)")
    assert "helm upgrade --install trace-e2e-ms llm-d-modelservice" in out
    assert not (tmp_path / "kind").exists(), "--plan writes nothing"


def test_cli_unknown_profile_lists_the_known_ones(capsys, tmp_path):
    assert kind_main(["--plan", "--profile", "gide", "--artifacts", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown profile 'gide': choose one of helmfile-guide, kustomize-guide, local" in err


@pytest.mark.parametrize("old,new", [("guide", "helmfile-guide"), ("latest", "kustomize-guide")])
def test_cli_refuses_a_retired_profile_name_naming_the_new_one(capsys, tmp_path, old, new):
    assert kind_main(["--plan", "--profile", old, "--artifacts", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    [line] = captured.err.strip().splitlines()
    assert f"use --profile {new}" in line and "Traceback" not in captured.err, captured.err
    assert captured.out == ""


def test_cli_refuses_the_local_profile(capsys, tmp_path):
    assert kind_main(["--plan", "--profile", "local", "--artifacts", str(tmp_path)]) == 2
    assert "is for the local platform" in capsys.readouterr().err


def test_cli_without_an_action_says_what_to_give(capsys):
    assert kind_main([]) == 2
    assert "give --plan, up or down" in capsys.readouterr().err


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("node", NODE_TYPES)
def test_each_chart_install_shows_what_it_will_run(make_plan, profile, node):
    from llmd_trace_e2e.deployment.chart_render import chart_source
    from llmd_trace_e2e.runtime.errors import ToolMissing
    from llmd_trace_e2e.runtime.paths import tool

    plan = make_plan(profile, **node)
    text = plan.render()
    releases = [(valuesfiles.EPP_RELEASE, "epp"), (valuesfiles.MODELSERVICE_RELEASE, "modelservice")]
    for release, role in [(r, role) for r, role in releases if role in plan.profile.charts]:
        [shown] = helm_step(plan, release).shows
        assert f"--- {shown} ---" in text
        pin = plan.profile.charts[role]
        try:
            renderable = chart_source(pin.chart, pin.version) is not None and tool("helm") is not None
        except ToolMissing:
            renderable = False
        assert shown.name == (f"rendered-{release}.yaml" if renderable else f"predicted-{release}.yaml"), \
            f"{pin.chart} {pin.version}: renderable here={renderable}, the plan shows {shown.name}"
        if not renderable:
            assert "the chart cannot be rendered here" in plan.files[shown]


def test_post_renderer_renames_connector_and_refuses_unknown_names():
    import subprocess
    import sys

    manifest = yaml.safe_dump({"kind": "Deployment", "spec": {"template": {"spec": {
        "initContainers": [{"name": "routing-proxy", "args": ["--port=8000", "--connector=nixlv2"]}],
        "containers": [{"name": "vllm", "args": ["--connector=untouched"]}]}}}})
    run = subprocess.run([sys.executable, "-m", "llmd_trace_e2e.platforms.kind.postrender", "kv-connector"], input=manifest,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    spec = yaml.safe_load(run.stdout)["spec"]["template"]["spec"]
    assert spec["initContainers"][0]["args"] == ["--port=8000", "--kv-connector=nixlv2"]
    assert spec["containers"][0]["args"] == ["--connector=untouched"]
    bad = subprocess.run([sys.executable, "-m", "llmd_trace_e2e.platforms.kind.postrender", "kv-conector"], input=manifest,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown post-render ['kv-conector']" in bad.stderr


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("node", NODE_TYPES)
def test_the_emulation_agrees_with_the_real_chart_on_the_plans_values(make_plan, profile, node):
    """For pinned charts that can be had here (the guide's inferencepool v1.3.0 has no golden case)."""
    from llmd_trace_e2e.deployment import chart_emulation
    from llmd_trace_e2e.deployment.charts import chart_release, predict_for, split_values

    from ..real_charts import real_chart_or_skip

    from llmd_trace_e2e.deployment.chart_render import chart_source
    from llmd_trace_e2e.platforms.kind.options import NAMESPACE

    plan = make_plan(profile, **node)
    roles = [(role, part) for role, part in (("epp", 0), ("modelservice", 1)) if role in plan.profile.charts
             and chart_source(plan.profile.charts[role].chart, plan.profile.charts[role].version)]
    if not roles:
        pytest.skip(f"no chart of profile {profile} can be had here: only the golden renders check its emulation")
    for role, part in roles:
        pin = plan.profile.charts[role]
        real_chart_or_skip(pin.chart, pin.version, f"the emulation of {pin.chart} {pin.version} against its render")
        real = predict_for(plan.profile, role, plan.values, namespace=NAMESPACE)
        assert real.source == "helm"
        emulated = chart_emulation.predict(pin.chart, pin.version, split_values(plan.values)[part],
                                           release=chart_release(role), namespace=NAMESPACE)
        assert [c.as_json() for c in emulated] == [c.as_json() for c in real.containers], \
            f"{pin.chart} {pin.version}: the emulation differs from helm's render for the {profile} plan's values"
