"""The kustomize-guide profile's kind plan: llm-d's current tracing guide as it deploys today (the
recipe's collector and Jaeger in the workload's namespace, the harness's vLLM Deployment with
llm-d's kustomize tracing component, the llm-d Router chart with router.tracing), and the run's
values reaching the model server as a patch after the component. The prediction itself is held
against the real kustomize in tests/unit/test_kustomize_component.py."""
from __future__ import annotations

import pytest
import yaml

from llmd_trace_e2e.platforms.kind import kustomize_plan
from llmd_trace_e2e.platforms.kind.cli import kind_main
from llmd_trace_e2e.platforms.kind.dryrun import plan_documents
from llmd_trace_e2e.platforms.kind.options import NAMESPACE
from llmd_trace_e2e.platforms.kind.plan import Apply
from llmd_trace_e2e.platforms.kind.preflight import run_preflight
from llmd_trace_e2e.runtime.errors import ConfigError, ToolMissing
from llmd_trace_e2e.runtime.paths import repo_root
from llmd_trace_e2e.deployment import kustomize_modelserver as component
from llmd_trace_e2e.deployment.values import ValuesError

from .conftest import rendered

PROFILE = "kustomize-guide"
NODES = [pytest.param({}, id="cpu"), pytest.param({"gpu": True}, id="gpu")]


def values_file(tmp_path, doc) -> tuple:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(doc))
    return (path,)


def decode_container(plan) -> dict:
    [doc] = [d for d in yaml.safe_load_all(plan.files[plan.options.rendered_dir / "modelserver-predicted.yaml"])
             if d and d["metadata"]["name"] == kustomize_plan.DECODE_NAME]
    return doc["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("node", NODES)
def test_the_plan_shows_the_three_steps_of_the_current_guide(make_plan, node):
    plan = make_plan(PROFILE, **node)
    text = plan.render()
    # Step 3: the llm-d Router chart with router.tracing, at the recipe's collector
    epp = rendered(plan, "values-epp.yaml")
    assert epp["router"]["tracing"] == {"enabled": True, "otelExporterEndpoint": "http://otel-collector:4317",
                                        "sampling": {"sampler": "parentbased_traceidratio", "samplerArg": "1.0"}}
    assert "oci://ghcr.io/llm-d/charts/llm-d-router-gateway" in text and "inferenceExtension" not in str(epp)
    # Step 2: the component's args and env on the decode container (first, modelserver, [vllm, serve])
    container = decode_container(plan)
    assert (container["name"], container["command"]) == ("modelserver", ["vllm", "serve"])
    assert container["args"][-2:] == list(component.COMPONENT_ARGS)
    env = {e["name"]: e["value"] for e in container["env"]}
    assert {n for n, _ in component.COMPONENT_ENV} <= set(env)
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4317" and env["OTEL_TRACES_SAMPLER_ARG"] == "1.0"
    traced = rendered(plan, "modelserver/traced/kustomization.yaml")
    assert traced["components"] == [plan.profile.kustomize["modelserver"].remote()]
    assert "?ref=999665eb332ecae7d4862f2def1d01cb207897cd" in traced["components"][0]
    # Step 1: the recipe's collector and Jaeger in the workload's namespace, at pinned commits and images
    recipe = rendered(plan, "recipe/kustomization.yaml")
    assert recipe["namespace"] == NAMESPACE
    assert [r.rsplit("/", 1)[-1] for r in recipe["resources"]] == ["jaeger-all-in-one.yaml", "otel-collector.yaml",
                                                                    "host-services.yaml"]
    assert {i["newTag"] for i in recipe["images"]} == {"0.120.0", "2.15.0"}
    assert "monitoring" not in {d["metadata"]["name"] for d in [rendered(plan, "00-namespaces.yaml")]}
    assert plan.endpoints["in_cluster"]["collector_otlp_grpc"] == "http://otel-collector:4317"
    assert plan.endpoints["forwards"]["collector_otlp_grpc"] == (NAMESPACE, "otel-collector", 4317)
    assert plan.endpoints["forwards"]["jaeger_query_url"] == (NAMESPACE, "jaeger-collector", 16686)
    for path in (plan.options.rendered_dir / "recipe" / "kustomization.yaml",
                 plan.options.rendered_dir / "modelserver" / "kustomization.yaml",
                 plan.options.rendered_dir / "modelserver-predicted.yaml"):
        assert f"--- {path} ---" in text, f"the plan does not show {path}"
    assert not any(isinstance(s, Apply) and s.path.name in ("10-jaeger.yaml", "11-collector.yaml") for s in plan.steps)
    assert "routing-proxy" not in str(rendered(plan, "modelserver/base/decode.yaml")), \
        "the guide's single-stage overlays deploy no routing proxy"
    assert "pd-recipe-proxy-no-tracing-flag" not in text, "no proxy, so no proxy gap to report"


@pytest.mark.parametrize("variant,env,args_tail", [
    ({"tracing": {"sampling": {"samplerArg": "0.1"}}}, {"OTEL_TRACES_SAMPLER_ARG": "0.1"}, list(component.COMPONENT_ARGS)),
    ({"tracing": {"sampling": {"samplerArg": "0"}}}, {"OTEL_TRACES_SAMPLER_ARG": "0"}, list(component.COMPONENT_ARGS)),
    ({"tracing": {"serviceNames": {"vllmDecode": "renamed"}}}, {"OTEL_SERVICE_NAME": "renamed"},
     list(component.COMPONENT_ARGS)),
])
def test_values_become_a_patch_after_the_component(make_plan, tmp_path, variant, env, args_tail):
    plan = make_plan(PROFILE, values_files=values_file(tmp_path, variant))
    top = rendered(plan, "modelserver/kustomization.yaml")
    assert top["resources"] == ["traced"], "the patch layers after the component"
    patch_text = "".join(p["patch"] for p in top["patches"])
    for name, value in env.items():
        assert name in patch_text and value in patch_text
    container = decode_container(plan)
    have = {e["name"]: e["value"] for e in container["env"]}
    assert {k: have[k] for k in env} == env
    assert container["args"][-2:] == args_tail, "the values change env, never the component's args"


def test_tracing_off_removes_what_the_component_added(make_plan, tmp_path):
    plan = make_plan(PROFILE, values_files=values_file(tmp_path, {"tracing": {"enabled": False}}))
    container = decode_container(plan)
    assert not any(a.startswith("--otlp-traces-endpoint") for a in container["args"])
    assert not any(e["name"].startswith("OTEL_") for e in container.get("env", []))
    control = decode_container(make_plan(PROFILE))
    assert any(a.startswith("--otlp-traces-endpoint") for a in control["args"]), "positive control: on by default"


@pytest.mark.parametrize("doc,needle", [
    ({"decode": {"containers": [{"name": "vllm", "modelCommand": "custom"}]}}, "decode.containers"),
    ({"tracing": {"serviceNames": {"vllmPrefill": "p"}}}, "tracing.serviceNames.vllmPrefill"),
    ({"tracing": {"serviceNames": {"routingProxy": "p"}}}, "tracing.serviceNames.routingProxy"),
    ({"global": {"tracing": {"enabled": True}}}, "global.tracing.enabled"),
])
def test_a_key_with_no_meaning_for_a_kustomize_model_server_is_refused_in_one_line(make_plan, tmp_path, doc, needle):
    with pytest.raises(ValuesError) as refused:
        make_plan(PROFILE, values_files=values_file(tmp_path, doc))
    message = str(refused.value)
    assert needle in message and "has no meaning for a kustomize model server" in message and "\n" not in message


@pytest.mark.parametrize("doc", [{"inferenceExtension": {"tracing": {"enabled": True}}},
                                 {"inferenceExtension": {"flags": {"v": 4}}}])
def test_a_top_level_inference_extension_key_is_refused_naming_router_tracing(capsys, tmp_path, doc):
    path = values_file(tmp_path, doc)[0]
    assert kind_main(["--plan", "--profile", PROFILE, "--values", str(path), "--artifacts", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    [line] = captured.err.strip().splitlines()
    assert "inferenceExtension" in line and "router.tracing" in line and "Traceback" not in captured.err
    ok = values_file(tmp_path, {"router": {"tracing": {"sampling": {"samplerArg": "0.5"}}}})[0]
    assert kind_main(["--plan", "--profile", PROFILE, "--values", str(ok), "--artifacts", str(tmp_path)]) == 0, \
        "positive control: the same intent under router.tracing plans"


def test_cli_plans_the_current_guide_on_cpu_and_gpu_without_refusal(capsys, tmp_path):
    for extra in ([], ["--gpu"], ["--gpu", "--pd"]):
        assert kind_main(["--plan", "--profile", PROFILE, *extra, "--artifacts", str(tmp_path)]) == 0, extra
        out = capsys.readouterr().out
        assert "kustomize build" in out and "otelExporterEndpoint: http://otel-collector:4317" in out
        assert "--otlp-traces-endpoint=$(OTEL_EXPORTER_OTLP_ENDPOINT)" in out
        assert f"namespace: {NAMESPACE}" in out


def test_pd_shows_the_recipes_sidecar_the_users_env_step_and_the_missing_tracing_flag(make_plan):
    plan = make_plan(PROFILE, gpu=True, pd=True)
    text = plan.render()
    base = rendered(plan, "modelserver/base/decode.yaml")
    [sidecar] = [c for c in base["spec"]["template"]["spec"]["initContainers"] if c["name"] == "routing-proxy"]
    assert sidecar["args"] == ["--port=8000", "--kv-connector=nixlv2", "--zap-log-level=1", "--secure-serving=false"]
    assert "env" not in sidecar and sidecar["restartPolicy"] == "Always", "as the P/D recipe renders it"
    step = plan.files[plan.options.rendered_dir / "modelserver" / "user-proxy-env.yaml"]
    assert step.startswith("# the user's step"), step.splitlines()[0]
    [predicted] = [d for d in yaml.safe_load_all(plan.files[plan.options.rendered_dir / "modelserver-predicted.yaml"])
                   if d and d["metadata"]["name"] == kustomize_plan.DECODE_NAME]
    [proxy] = [c for c in predicted["spec"]["template"]["spec"]["initContainers"] if c["name"] == "routing-proxy"]
    assert {e["name"]: e["value"] for e in proxy["env"]}["OTEL_SERVICE_NAME"] == "routing-proxy"
    assert not any("--tracing" in a for a in proxy["args"])
    assert "# known gap pd-recipe-proxy-no-tracing-flag (routing-proxy)" in text
    assert plan.profile.images["routing-proxy"] in plan.images
    prefill = rendered(plan, "modelserver/base/prefill.yaml")
    assert prefill["metadata"]["labels"]["llm-d.ai/role"] == "prefill"
    assert "--otlp-traces-endpoint" in prefill["spec"]["template"]["spec"]["containers"][0]["args"]
    assert rendered(plan, "values-epp.yaml")["router"]["epp"]["pluginsConfigFile"] == "pd-config.yaml"


def test_collector_config_replaces_the_recipes_config(make_plan, tmp_path):
    text = (repo_root() / "config" / "collector" / "guide.yaml").read_text()
    good = tmp_path / "mine.yaml"
    good.write_text(text.replace("jaeger-collector.monitoring.svc.cluster.local:4317", "jaeger-collector:4317"))
    plan = make_plan(PROFILE, collector_config=good)
    patch = rendered(plan, "recipe/collector-config.yaml")
    assert (patch["metadata"]["name"], patch["data"]["config.yaml"]) == ("otel-collector-config", good.read_text()), \
        "a config that already sends to the recipe's Jaeger runs as written"
    patches = rendered(plan, "recipe/kustomization.yaml")["patches"]
    assert patches[0] == {"path": "collector-config.yaml"} and "config-sha" in patches[1]["patch"]
    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text(text)  # sends to the helmfile profile's Jaeger in `monitoring`
    moved = rendered(make_plan(PROFILE, collector_config=elsewhere), "recipe/collector-config.yaml")["data"]["config.yaml"]
    assert "adapted by llmd-trace-e2e" in moved
    endpoints = {str(cfg.get("endpoint")) for cfg in yaml.safe_load(moved)["exporters"].values() if isinstance(cfg, dict)}
    assert "jaeger-collector:4317" in endpoints and not any("monitoring" in e for e in endpoints), endpoints


def test_the_dry_run_applies_the_prediction_and_names_what_is_fetched_at_run_time(make_plan):
    found = plan_documents(make_plan(PROFILE))
    refs = {d.ref for d in found.documents}
    assert f"Deployment/{NAMESPACE}/{kustomize_plan.DECODE_NAME}" in refs
    assert f"Service/{NAMESPACE}/otel-collector-host" in refs
    assert any("jaeger-all-in-one.yaml" in u.why for u in found.unrendered)


def test_preflight_asks_for_kustomize(make_plan, monkeypatch):
    from llmd_trace_e2e.platforms.kind import preflight

    asked = []

    def find_tools(names, host):
        asked.extend(names)
        raise ToolMissing("stop here")

    monkeypatch.setattr(preflight, "check_container_engine", lambda host: "docker")
    monkeypatch.setattr(preflight, "find_tools", find_tools)
    with pytest.raises(ToolMissing):
        run_preflight(make_plan(PROFILE))
    assert "kustomize" in asked
    asked.clear()
    with pytest.raises(ToolMissing):
        run_preflight(make_plan("helmfile-guide"))
    assert "kustomize" not in asked and "helm" in asked


def test_the_recipes_collector_lacks_two_of_the_guides_conditions(tmp_path):
    """The fact behind gap recipe-filter-lacks-http-target-and-url, read from llm-d's recipe file
    (LLMD_UPSTREAM_CURRENT, default ../shared/upstream/llm-d-current; skipped loudly when absent)
    the way a run reads it from its `kustomize build`."""
    from llmd_trace_e2e.deployment.collector_config import repo_collector_config

    from ..test_kustomize_component import upstream_dir

    recipe = upstream_dir() / "otel-collector.yaml"
    if not recipe.is_file():
        pytest.skip(f"SKIPPED LOUDLY: llm-d's recipe collector is not at {recipe} (set LLMD_UPSTREAM_CURRENT)")
    built = tmp_path / "recipe-built.yaml"
    built.write_text(recipe.read_text())
    conditions = set(kustomize_plan.recipe_collector_config(built).filter_conditions())
    missing = {'attributes["http.target"] == "/metrics"', 'attributes["http.url"] == "/metrics"'}
    assert not (missing & conditions) and len(conditions) == 4, sorted(conditions)
    assert missing <= set(repo_collector_config().filter_conditions()), "positive control: the guide's config has them"


@pytest.mark.parametrize("doc", [{}, {"tracing": {"enabled": False}},
                                 {"tracing": {"otlpEndpoint": "http://my-collector.observability.svc:4317"}}])
def test_the_kind_pod_check_holds_the_predicted_pod_to_the_guides_promise(make_plan, tmp_path, doc):
    """What test_kind_pods.py checks on a real cluster, here on the predicted pod: the promise for
    the values (llm-d's component: one arg each, `$(OTEL_EXPORTER_OTLP_ENDPOINT)`) is kept."""
    from llmd_trace_e2e.platforms.kind.pods import container_views, vllm_containers
    from llmd_trace_e2e.deployment.guide_promise import vllm_promise

    plan = make_plan(PROFILE, values_files=values_file(tmp_path, doc) if doc else ())
    [decode] = [d for d in yaml.safe_load_all(plan.files[plan.options.rendered_dir / "modelserver-predicted.yaml"])
                if d and d["metadata"]["name"] == kustomize_plan.DECODE_NAME]
    pod = {"metadata": {"name": f"{kustomize_plan.DECODE_NAME}-7c9d-x2x"}, "spec": decode["spec"]["template"]["spec"]}
    [view] = vllm_containers(container_views([pod]))
    promise = vllm_promise(plan.values, plan.profile)
    assert promise.broken_by(view) == [], promise.broken_by(view)
    other = vllm_promise({**plan.values, "tracing": {**plan.values["tracing"], "enabled": not doc.get("tracing", {}).get(
        "enabled", True)}}, plan.profile)
    assert other.broken_by(view), "control: the opposite promise is broken by the same pod"


def test_helmfile_is_refused_on_the_kustomize_profile(make_plan, tmp_path):
    helmfile = tmp_path / "helmfile.yaml.gotmpl"
    helmfile.write_text("releases: []\n")
    with pytest.raises(ConfigError, match="use --profile helmfile-guide with --helmfile"):
        make_plan(PROFILE, helmfile=helmfile, pool="p")
    assert make_plan("helmfile-guide", helmfile=helmfile, pool="p").steps, "positive control"


@pytest.mark.parametrize("own_config", [False, True], ids=["recipe-config", "collector-config"])
def test_the_recipe_kustomization_builds_from_its_urls(tmp_path, make_plan, own_config):
    """The plan's recipe kustomization, built by the real kustomize with its raw-file URLs served
    from 127.0.0.1 (llm-d's files from LLMD_UPSTREAM_CURRENT at the same paths): every object lands
    in the workload's namespace with the pinned images, and the config the run reads is the recipe's."""
    import functools
    import http.server
    import shutil
    import subprocess
    import threading

    from llmd_trace_e2e.runtime.errors import ToolMissing as Missing
    from llmd_trace_e2e.runtime.paths import tool

    from ..test_kustomize_component import upstream_dir

    try:
        kustomize = tool("kustomize")
    except Missing as exc:
        pytest.skip(f"SKIPPED LOUDLY: {exc}")
    mine = tmp_path / "mine.yaml"
    mine.write_text((repo_root() / "config" / "collector" / "guide.yaml").read_text().replace(
        "jaeger-collector.monitoring.svc.cluster.local:4317", "jaeger-collector:4317"))
    plan = make_plan(PROFILE, **({"collector_config": mine} if own_config else {}))
    recipe = plan.options.rendered_dir / "recipe"
    served = tmp_path / "served"
    local_urls = []
    for url in plan.profile.kustomize["observability"].files:
        source = upstream_dir() / url.rsplit("/", 1)[-1]
        if not source.is_file():
            pytest.skip(f"SKIPPED LOUDLY: llm-d's recipe file is not at {source} (set LLMD_UPSTREAM_CURRENT)")
        path = served / url.split("://", 1)[1]
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, path)
        local_urls.append(url.split("://", 1)[1])
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        for path, text in plan.files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        doc = yaml.safe_load((recipe / "kustomization.yaml").read_text())
        doc["resources"] = [f"http://127.0.0.1:{server.server_port}/{u}" for u in local_urls] + doc["resources"][2:]
        (recipe / "kustomization.yaml").write_text(yaml.safe_dump(doc))
        proc = subprocess.run([str(kustomize), "build", str(recipe)], capture_output=True, text=True, timeout=120)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
    assert proc.returncode == 0, proc.stderr
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    assert {d["metadata"].get("namespace") for d in docs} == {NAMESPACE}
    refs = {f"{d['kind']}/{d['metadata']['name']}" for d in docs}
    assert {"Deployment/otel-collector", "Service/otel-collector", "ConfigMap/otel-collector-config",
            "Deployment/jaeger", "Service/jaeger-collector", "Service/otel-collector-host",
            "Service/jaeger-query-host"} <= refs, refs
    images = {c["image"] for d in docs if d["kind"] == "Deployment" for c in d["spec"]["template"]["spec"]["containers"]}
    assert images == {plan.profile.images["collector"], plan.profile.images["jaeger"]}
    built = tmp_path / "recipe-built.yaml"
    built.write_text(proc.stdout)
    assert len(kustomize_plan.recipe_collector_config(built).filter_conditions()) == (6 if own_config else 4)
    [collector] = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "otel-collector"]
    annotations = collector["spec"]["template"]["metadata"].get("annotations") or {}
    assert ("llmd-trace-e2e.llm-d.ai/config-sha" in annotations) is own_config, annotations


def test_preflight_needs_git_for_the_remote_component(tmp_path):
    from llmd_trace_e2e.platforms.kind.preflight import Host, PreflightError, check_git

    with pytest.raises(PreflightError, match="git is not on PATH: kustomize clones llm-d's tracing component"):
        check_git(Host(env={"PATH": str(tmp_path)}))
    (tmp_path / "git").write_text("#!/bin/sh\n# FAKE git for the preflight test\n")
    (tmp_path / "git").chmod(0o755)
    check_git(Host(env={"PATH": str(tmp_path)}))  # positive control: found


def test_offline_is_refused_on_the_kustomize_profile(make_plan):
    with pytest.raises(ConfigError, match="--offline: profile 'kustomize-guide' fetches llm-d's recipe files at run time"):
        make_plan(PROFILE, offline=True)
