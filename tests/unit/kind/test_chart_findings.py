"""Issue 10's findings, one test each: what the harness believed about the charts, held against
what the real charts do (../shared/golden-renders, the charts' release tags)."""
from __future__ import annotations

import re
import tomllib

import pytest
import yaml

from llmd_trace_e2e.deployment import chart_emulation as em
from llmd_trace_e2e.deployment.chart_render import ChartRefused, render_chart
from llmd_trace_e2e.deployment.charts import split_values
from llmd_trace_e2e.runtime.paths import repo_root
from llmd_trace_e2e.platforms.base import expected_service
from llmd_trace_e2e.deployment.profiles import load_profile
from llmd_trace_e2e.deployment.values import GUIDE_KEYS, ValuesError, container_overlay, deep_merge, nest

from ..real_charts import real_chart_or_skip

NS = {"release": "trace-e2e", "namespace": "llmd-trace-e2e"}
BASE = {"modelArtifacts": {"name": "Qwen/Qwen3-0.6B", "uri": "hf://Qwen/Qwen3-0.6B", "size": "20Gi"},
        "routing": {"servicePort": 8000, "proxy": {"enabled": False}},
        "decode": {"replicas": 1, "containers": [{"name": "vllm", "image": "vllm/vllm-openai:v0.31.0",
                                                  "modelCommand": "vllmServe", "args": ["--max-model-len", "4096"]}]},
        "prefill": {"create": False}}
GUIDE_BLOCK = {"enabled": True, "otlpEndpoint": em.GUIDE_COLLECTOR,
               "sampling": {"sampler": "parentbased_traceidratio", "samplerArg": "1.0"},
               "serviceNames": {"vllmDecode": "vllm-decode", "vllmPrefill": "vllm-prefill", "routingProxy": "llm-d-pd-proxy"},
               "vllm": {"collectDetailedTraces": "all"}}


def ms(version: str, block: dict, base: dict = BASE) -> dict:
    return deep_merge(base, nest(em.modelservice_tracing_path(version), block))


def vllm(version: str, values: dict):
    [container] = [c for c in em.modelservice(version, values) if c.role == "decode"]
    return container


def epp_values(chart: str, block: dict) -> dict:
    """An EPP chart's `block` plus the pool selector every EPP chart requires."""
    labels = {"modelServers": {"matchLabels": {"llm-d.ai/inference-serving": "true"}}}
    if chart == "llm-d-router-gateway":
        return {"router": {**labels, **block}}
    return {"inferenceExtension": block, "inferencePool": labels}


def test_7_an_epp_chart_refuses_values_without_a_pool_selector():
    for chart, version in (("inferencepool", "v1.5.0"), ("llm-d-router-gateway", "v0.10.0")):
        with pytest.raises(ChartRefused, match=r"modelServers\.matchLabels is required"):
            em.epp(chart, version, {}, **NS)


def write_values(tmp_path, doc) -> object:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


# 1. llm-d-modelservice v0.4.5/v0.4.6 refuse the guide's own block -----------------------------

@pytest.mark.parametrize("version", ["v0.4.5", "v0.4.6"])
def test_1_guide_block_is_refused_by_v045_and_v046(version):
    with pytest.raises(ChartRefused) as refused:
        em.modelservice(version, ms(version, GUIDE_BLOCK))
    assert refused.value.key == "global.tracing.serviceNames.routingProxy"
    assert refused.value.reason.endswith("- at '/global/tracing/serviceNames': additional properties 'routingProxy' not allowed")
    # positive control: the same block less that key renders
    block = deep_merge(GUIDE_BLOCK, {"serviceNames": {"routingProxy": None}})
    block["serviceNames"].pop("routingProxy")
    assert vllm(version, ms(version, block)).env_dict["OTEL_SERVICE_NAME"] == "vllm-decode"


def test_1_several_schema_errors_are_grouped_as_helm_words_them():
    # helm v3.22.0's own text for these values on the v0.4.5 chart
    values = {"bogus": 1, "tracing": {}, "global": {"tracing": {"enabled": True, "foo": 1}, "x": 2}}
    with pytest.raises(ChartRefused) as refused:
        em.modelservice("v0.4.5", values)
    assert refused.value.reason == (
        f"{em.SCHEMA_REFUSAL} llm-d-modelservice: - at '/global': validation failed - at '/global/tracing': "
        "additional properties 'foo' not allowed - at '/global': additional properties 'x' not allowed - at '': "
        "additional properties 'bogus', 'tracing' not allowed")


def test_1_the_plan_refuses_it_in_one_line_naming_key_and_version(make_plan, tmp_path):
    path = write_values(tmp_path, {"global": {"tracing": {"serviceNames": {"routingProxy": "llm-d-pd-proxy"}}}})
    with pytest.raises(ValuesError) as refused:
        make_plan("helmfile-guide", values_files=(path,))
    message = str(refused.value)
    assert "\n" not in message
    assert "global.tracing.serviceNames.routingProxy" in message and "llm-d-modelservice v0.4.5" in message
    assert "did you mean" not in message
    assert "serviceNames.routingProxy" in GUIDE_KEYS["modelservice"]


def test_1_the_guide_profile_sends_the_block_its_chart_accepts(make_plan):
    _, values = split_values(make_plan("helmfile-guide").values)
    assert "routingProxy" not in values["global"]["tracing"]["serviceNames"]
    assert vllm("v0.4.5", values).env_dict["OTEL_SERVICE_NAME"] == "vllm-decode"


# 2. pd-sidecar v0.10.0 takes --kv-connector, llm-d-modelservice renders --connector ------------

def test_2_the_chart_itself_renders_connector():
    proxied = deep_merge(BASE, {"routing": {"proxy": {"enabled": True, "image": "x:1"}}, "tracing": {"enabled": True}})
    [proxy] = [c for c in em.modelservice("v0.4.12", proxied) if c.role == "routing-proxy"]
    assert "--connector=nixlv2" in proxy.args and "--tracing" not in " ".join(proxy.args)
    assert proxy.env_dict["OTEL_SERVICE_NAME"] == "routing-proxy"  # from v0.4.7: env, but never --tracing
    [old] = [c for c in em.modelservice("v0.4.6", deep_merge(proxied, {"global": {"tracing": {"enabled": True}},
                                                                       "tracing": None}))
             if c.role == "routing-proxy"]
    assert old.env == ()


# 3. on kind the baseline carries the harness's vLLM container -----------------------------------

@pytest.mark.parametrize("profile", ["helmfile-guide", "kustomize-guide"])
@pytest.mark.parametrize("gpu", [False, True], ids=["cpu", "gpu"])
def test_3_kind_baseline_predicts_vllm_tracing(make_plan, profile, gpu):
    plan = make_plan(profile, gpu=gpu)
    if not plan.profile.kustomize_modelserver:
        assert plan.values["decode"]["containers"][0]["modelCommand"] == "vllmServe"
    assert expected_service(plan.values, plan.profile, "vllm-decode") == "vllm-decode"
    assert expected_service(plan.values, plan.profile, "epp") == plan.profile.services["epp"]


# 4. modelCommand: custom still gets all five OTEL_* env vars -----------------------------------

@pytest.mark.parametrize("version", ["v0.4.5", "v0.4.7", "v0.4.12"])
def test_4_custom_command_gets_the_env_not_the_args(version):
    custom = container_overlay(BASE, modelCommand="custom", command=["/bin/sh", "-c"], args=["vllm serve m"])
    c = vllm(version, ms(version, {"enabled": True}, deep_merge(BASE, custom)))
    assert [n for n, _ in c.env if n.startswith("OTEL_")] == [
        "OTEL_SERVICE_NAME", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_EXPORTER", "OTEL_TRACES_SAMPLER",
        "OTEL_TRACES_SAMPLER_ARG"]
    assert c.args == ("vllm serve m",) and c.command == ("/bin/sh", "-c")


# 5. Helm replaces lists: an overlay of decode.containers loses the image ------------------------

def test_5_a_partial_container_overlay_is_refused_as_helm_would(make_plan, tmp_path):
    path = write_values(tmp_path, {"decode": {"containers": [{"name": "vllm", "modelCommand": "custom",
                                                               "command": ["vllm", "serve", "m"]}]}})
    with pytest.raises(ChartRefused, match=r"llm-d-modelservice v0\.4\.5 refuses these values: .*image of container "
                                           r"is required"):
        make_plan("helmfile-guide", values_files=(path,))


def test_5_a_whole_container_overlay_keeps_the_image(make_plan):
    plan = make_plan("helmfile-guide")
    overlay = container_overlay(plan.values, modelCommand="custom", command=["vllm", "serve", "m"])
    assert overlay["decode"]["containers"][0]["image"] == plan.profile.images["vllm-cpu"]
    c = vllm("v0.4.12", deep_merge(split_values(plan.values)[1], overlay))
    assert c.command == ("vllm", "serve", "m")


# 6. inferencepool v1.2.0's Role vs an EPP that watches inferencemodelrewrites -------------------

def test_6_the_guide_profiles_epp_chart_grants_what_its_epp_watches():
    pin = load_profile("helmfile-guide").charts["epp"]
    assert (pin.chart, pin.version) == ("inferencepool", "v1.3.0"), "chart v1.2.0's Role lacks inferencemodelrewrites"
    real_chart_or_skip(pin.chart, pin.version, "its Role", loud_if_unavailable=True)
    docs = render_chart(pin.chart, pin.version, {"inferencePool": {"modelServers": {"matchLabels": {"a": "b"}}}})
    resources = {r for d in docs if d.get("kind") == "Role" for rule in d.get("rules") or []
                 for r in rule.get("resources") or []}
    assert {"inferencemodelrewrites", "inferencepools", "pods"} <= resources, resources


# 7. defaults the harness had wrong -------------------------------------------------------------

def test_7_endpoint_default_per_version():
    assert vllm("v0.4.6", ms("v0.4.6", {"enabled": True})).env_dict["OTEL_EXPORTER_OTLP_ENDPOINT"] == em.GUIDE_COLLECTOR
    assert vllm("v0.4.7", ms("v0.4.7", {"enabled": True})).env_dict["OTEL_EXPORTER_OTLP_ENDPOINT"] == \
        "http://otel-collector:4317"


def test_7_v047_ignores_the_guides_global_block_silently():
    c = vllm("v0.4.7", deep_merge(BASE, {"global": {"tracing": GUIDE_BLOCK}}))
    assert not any(n.startswith("OTEL_") for n, _ in c.env) and "--otlp-traces-endpoint" not in c.args


def test_7_tracing_args_always_carry_detail_and_come_before_the_containers_own():
    args = vllm("v0.4.12", ms("v0.4.12", {"enabled": True})).args
    assert args[args.index("--collect-detailed-traces") + 1] == "all"
    assert args.index("--otlp-traces-endpoint") < args.index("--max-model-len")


def test_7_container_env_comes_before_the_charts():
    own = container_overlay(BASE, env=[{"name": "OTEL_SERVICE_NAME", "value": "mine"}])
    env = vllm("v0.4.12", ms("v0.4.12", {"enabled": True}, deep_merge(BASE, own))).env
    names = [n for n, _ in env]
    assert names[0] == "OTEL_SERVICE_NAME" and names.count("OTEL_SERVICE_NAME") == 2 and dict(env)["OTEL_SERVICE_NAME"] == "vllm-decode"


@pytest.mark.parametrize("chart,version,name", [("inferencepool", "v1.2.0", "gateway-api-inference-extension"),
                                                ("inferencepool", "v1.3.0", "gateway-api-inference-extension"),
                                                ("inferencepool", "v1.5.0", "gateway-api-inference-extension/epp"),
                                                ("llm-d-router-gateway", "v0.10.0", "llm-d-router/epp")])
def test_7_epp_service_name_per_chart(chart, version, name):
    [epp] = em.epp(chart, version, epp_values(chart, {"tracing": {"enabled": True}}), **NS)
    assert epp.env_dict["OTEL_SERVICE_NAME"] == name
    assert epp.env_dict["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://localhost:4317"


def test_7_router_user_env_is_router_epp_env_and_comes_last():
    values = epp_values("llm-d-router-gateway", {"tracing": {"enabled": True},
                                                 "epp": {"env": [{"name": "OTEL_SERVICE_NAME", "value": "mine"}]}})
    [epp] = em.epp("llm-d-router-gateway", "v0.10.0", values, **NS)
    assert epp.env[-1] == ("OTEL_SERVICE_NAME", "mine") and epp.env_dict["OTEL_SERVICE_NAME"] == "mine"


# 8. pins ---------------------------------------------------------------------------------------

def _pin_comments() -> dict[str, str]:
    """versions.toml: each [section]'s comment lines."""
    out, section = {}, None
    for line in (repo_root() / "versions.toml").read_text().splitlines():
        header = re.fullmatch(r"\[([^\]]+)\]", line.strip())
        if header:
            section = header.group(1)
            out[section] = ""
        elif section and line.startswith("#"):
            out[section] += line + "\n"
    return out


def test_8_latest_modelservice_is_a_release_that_exists():
    versions = tomllib.loads((repo_root() / "versions.toml").read_text())
    pinned = versions["charts"]["llm-d-modelservice-latest"]["version"]
    assert em.version_tuple(pinned) <= (0, 4, 15), f"{pinned}: no release after v0.4.15 was ever seen"
    assert load_profile("local").charts["modelservice"].version == pinned


@pytest.mark.parametrize("profile", ["helmfile-guide", "kustomize-guide", "local"])
def test_8_every_pin_a_profile_runs_says_where_it_was_verified(profile):
    comments = _pin_comments()
    raw = yaml.safe_load((repo_root() / "config" / "profiles.yaml").read_text())["profiles"][profile]
    section = raw.get(raw["platform"]) or {}
    keys = [f"charts.{k}" for k in (section.get("charts") or {}).values()]
    keys += [f"images.{k}" for role, k in (section.get("images") or {}).items() if role in ("epp", "routing-proxy")]
    unverified = [k for k in keys if "Verified" not in comments.get(k, "") and "no tracing code" not in comments.get(k, "")]
    assert not unverified, f"versions.toml entries without a `Verified:` comment: {unverified}"


def test_8_guide_profile_runs_what_the_guides_helmfile_pins():
    guide = load_profile("helmfile-guide")
    assert guide.charts["epp"].version == "v1.3.0"
    assert guide.charts["modelservice"].version == "v0.4.5"
    assert guide.images["epp"] == "ghcr.io/llm-d/llm-d-inference-scheduler:v0.5.0"
