"""Kind only: each pod carries what the tracing guide promises for the run's values (the env
names and vLLM args it lists, with the values set), checked against the pods the API server
has, not against the harness's own picture of the charts."""
from __future__ import annotations

import pytest

from llmd_trace_e2e.traffic import completions as traffic
from llmd_trace_e2e.deployment.guide_promise import custom_command_env_promise, epp_promise, vllm_promise
from llmd_trace_e2e.platforms.kind.pods import epp_containers, vllm_containers
from llmd_trace_e2e.traces.assertions import SpansExist
from llmd_trace_e2e.deployment.values import container_overlay, nest
from llmd_trace_e2e.traces.span_queries import SpansOf

from pytest_llmd_trace.suite import declare_known_gap


@pytest.fixture(autouse=True)
def _inspects_pods(pods):
    """Every test here inspects the pods the charts render: skipped loudly where there are none."""


def ms(platform, block):
    return nest(platform.profile.values_schema["modelservice"].path, block)


def the_vllm(platform):
    found = vllm_containers(platform.containers())
    assert found, f"no vllm container in a decode pod; containers: {[(v.pod, v.container) for v in platform.containers()]}"
    return found[0]


def assert_kept(promise, container):
    broken = promise.broken_by(container)
    assert not broken, f"the guide's promise for {promise.what} is broken:\n  " + "\n  ".join(broken)


@pytest.mark.guide("Environment Variables Injected")
def test_vllm_pod_carries_the_guides_tracing_env_and_args(platform):
    assert_kept(vllm_promise(platform.values, platform.profile), the_vllm(platform))


@pytest.mark.guide("Environment Variables Injected")
def test_epp_pod_carries_the_guides_endpoint_and_sampling(platform):
    [epp] = epp_containers(platform.containers())
    assert_kept(epp_promise(platform.values, platform.profile), epp)


@pytest.mark.guide("Disabling Tracing")
@pytest.mark.variant
def test_tracing_disabled_injects_nothing(platform):
    platform.apply_variant(ms(platform, {"enabled": False}))
    assert_kept(vllm_promise(platform.values, platform.profile), the_vllm(platform))


def chart_only(platform):
    if platform.profile.kustomize_modelserver:
        pytest.skip(f"profile {platform.profile.name}: modelCommand and per-container env overlays are "
                    "llm-d-modelservice chart values; a kustomize model server takes only tracing.* (as patches)")


def custom_command(platform):
    chart_only(platform)
    # the whole container: Helm replaces lists, so a partial one would lose the image
    return container_overlay(platform.values, modelCommand="custom",
                             command=["vllm", "serve", platform.model], args=[])


@pytest.mark.guide("Custom Commands (Advanced)")
@pytest.mark.variant
def test_custom_command_gets_no_tracing_args(platform):
    platform.apply_variant(custom_command(platform))
    promise = vllm_promise(platform.values, platform.profile)
    assert promise.no_args, "positive control: the promise for custom commands names the args it rules out"
    assert_kept(promise, the_vllm(platform))


@pytest.mark.guide("Custom Commands (Advanced)")
@pytest.mark.variant
def test_custom_command_gets_no_tracing_env(request, platform):
    declare_known_gap(request, platform, "custom-command-gets-otel-env")
    platform.apply_variant(custom_command(platform))
    assert_kept(custom_command_env_promise(), the_vllm(platform))


@pytest.mark.guide("Overriding Per-Component")
@pytest.mark.variant
def test_per_container_service_name_override_wins(request, platform):
    chart_only(platform)
    declare_known_gap(request, platform, "otel-service-name-override-loses")
    override = container_overlay(platform.values, env=[
        *platform.values["decode"]["containers"][0].get("env", []),
        {"name": "OTEL_SERVICE_NAME", "value": "my-special-decode"}])
    platform.apply_variant(override)
    done = traffic.send(platform.gateway_url, platform.model)
    platform.expect_spans(SpansOf.around("my-special-decode", done.started),
                          [SpansExist("my-special-decode", "llm_request")], "vLLM spans under the per-container override")


@pytest.mark.guide("Changing the Collector Endpoint")
@pytest.mark.variant
def test_endpoint_override_is_rendered(platform):
    endpoint = "http://my-collector.observability.svc.cluster.local:4317"
    platform.apply_variant(ms(platform, {"otlpEndpoint": endpoint}))
    promise = vllm_promise(platform.values, platform.profile)
    assert promise.env["OTEL_EXPORTER_OTLP_ENDPOINT"] == endpoint
    assert_kept(promise, the_vllm(platform))
