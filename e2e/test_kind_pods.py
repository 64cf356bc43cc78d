"""Kind only: the charts put into the pods exactly the tracing flags and env the guide lists,
and that `charts.py` predicts (the local platform applies the same prediction)."""
from __future__ import annotations

import pytest

from llmd_trace_e2e.charts import epp_launch, vllm_launch
from llmd_trace_e2e.kind.pods import epp_containers, vllm_containers
from llmd_trace_e2e.traces.assertions import SpansExist
from llmd_trace_e2e import traffic

from checks import expect_gap, expect_spans, spans_around

TRACING_ENV = ("OTEL_SERVICE_NAME", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_EXPORTER",
               "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG")


@pytest.fixture(autouse=True)
def _kind_only(platform):
    if platform.name != "kind":
        pytest.skip(f"kind only: inspects the pods the charts render (this run: {platform.name} platform)")


def ms(platform, block):
    path = platform.profile.values_schema["modelservice"].path
    for part in reversed(path.split(".")):
        block = {part: block}
    return block


def the_vllm(platform):
    found = vllm_containers(platform.containers())
    assert found, f"no vllm container in a decode pod; containers: {[(v.pod, v.container) for v in platform.containers()]}"
    return found[0]


def assert_renders(view, launch):
    for name in TRACING_ENV:
        assert view.env.get(name) == launch.env.get(name), (
            f"{view.pod}/{view.container}: {name}={view.env.get(name)!r}, the chart should render {launch.env.get(name)!r}")
    assert view.has_args(launch.args), f"{view.pod}/{view.container}: args {view.args} lack {launch.args}"


def test_vllm_pod_carries_the_guides_tracing_env_and_args(platform):
    assert_renders(the_vllm(platform), vllm_launch(platform.values, platform.profile))


def test_epp_pod_carries_its_tracing_flag_and_env(platform):
    [epp] = epp_containers(platform.containers())
    launch = epp_launch(platform.values, platform.profile)
    assert epp.has_args(launch.args[:1]) or any(a in epp.args for a in launch.args), \
        f"EPP args {epp.args} lack {launch.args}"
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_SAMPLER_ARG"):
        assert epp.env.get(name) == launch.env.get(name), f"EPP {name}={epp.env.get(name)!r}, expected {launch.env.get(name)!r}"


@pytest.mark.variant
def test_tracing_disabled_injects_nothing(platform):
    with platform.variant(ms(platform, {"enabled": False})):
        view = the_vllm(platform)
        leaked = [n for n in TRACING_ENV if n in view.env] + [a for a in view.args if "otlp" in a or "detailed-traces" in a]
        assert not leaked, f"tracing.enabled=false, yet {view.pod} carries {leaked}"


@pytest.mark.variant
def test_custom_command_injects_nothing(platform):
    custom = {"decode": {"containers": [{"name": "vllm", "modelCommand": "custom",
                                         "command": ["vllm", "serve", platform.model]}]}}
    with platform.variant(custom):
        view = the_vllm(platform)
        leaked = [n for n in TRACING_ENV if n in view.env] + [a for a in view.args if "otlp" in a]
        assert not leaked, f"modelCommand: custom, yet {view.pod} carries {leaked}"


@pytest.mark.variant
def test_per_container_service_name_override_wins(request, platform):
    expect_gap(request, platform, "otel-service-name-override-loses")
    override = {"decode": {"containers": [{"name": "vllm", "modelCommand": "vllmServe",
                                           "env": [{"name": "OTEL_SERVICE_NAME", "value": "my-special-decode"}]}]}}
    with platform.variant(override):
        done = traffic.send(platform.gateway_url, platform.model)
        expect_spans(platform, spans_around(platform, "my-special-decode", done),
                     [SpansExist("my-special-decode", "llm_request")], "vLLM spans under the per-container override")


@pytest.mark.variant
def test_endpoint_override_is_rendered(platform):
    endpoint = "http://my-collector.observability.svc.cluster.local:4317"
    with platform.variant(ms(platform, {"otlpEndpoint": endpoint})):
        view = the_vllm(platform)
        assert view.env.get("OTEL_EXPORTER_OTLP_ENDPOINT") == endpoint and view.has_args(("--otlp-traces-endpoint", endpoint))
