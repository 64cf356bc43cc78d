"""Helm values -> the flags and env the charts render, as the local platform applies them."""
import pytest

from llmd_trace_e2e.deployment.chart_render import ChartRefused
from llmd_trace_e2e.deployment.charts import epp_launch, localize, vllm_launch
from llmd_trace_e2e.platforms.local.launches import baseline_values
from llmd_trace_e2e.platforms.base import expected_service
from llmd_trace_e2e.deployment.profiles import load_profile
from llmd_trace_e2e.deployment.values import COLLECTOR_ENDPOINT, container_overlay, deep_merge

LOCAL = "http://127.0.0.1:4999"


@pytest.fixture(scope="module")
def profile():
    return load_profile("local")


def decode_container(profile, **fields):
    return container_overlay(baseline_values(profile), **fields)


def test_baseline_vllm_gets_the_guides_env_and_args(profile):
    launch = vllm_launch(baseline_values(profile), profile)
    assert launch.tracing
    assert launch.env_list == (("OTEL_SERVICE_NAME", "vllm-decode"), ("OTEL_EXPORTER_OTLP_ENDPOINT", COLLECTOR_ENDPOINT),
                               ("OTEL_TRACES_EXPORTER", "otlp"), ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
                               ("OTEL_TRACES_SAMPLER_ARG", "1.0"))
    assert launch.args == ("--otlp-traces-endpoint", COLLECTOR_ENDPOINT, "--collect-detailed-traces", "all")


def test_disabled_injects_nothing(profile):
    off = deep_merge(baseline_values(profile), {"tracing": {"enabled": False}})
    launch = vllm_launch(off, profile)
    assert launch.env == {} and launch.args == () and not launch.tracing


def test_custom_command_gets_the_env_but_not_the_args(profile):
    custom = deep_merge(baseline_values(profile), decode_container(profile, modelCommand="custom",
                                                                   command=["vllm", "serve", "m"]))
    launch = vllm_launch(custom, profile)
    assert launch.env["OTEL_SERVICE_NAME"] == "vllm-decode" and launch.env["OTEL_TRACES_EXPORTER"] == "otlp"
    assert launch.args == () and not launch.tracing, "without --otlp-traces-endpoint vLLM exports nothing"
    assert "no --otlp-traces-endpoint" in launch.notes[0]
    assert expected_service(custom, profile, "vllm-decode") is None


def test_custom_command_without_a_command_is_refused_as_helm_would(profile):
    bare = deep_merge(baseline_values(profile), decode_container(profile, modelCommand="custom"))
    with pytest.raises(ChartRefused, match=r"llm-d-modelservice v0\.4\.12 .*a `command` is required"):
        vllm_launch(bare, profile)


def test_container_env_comes_first_so_the_charts_service_name_wins(profile):
    values = deep_merge(baseline_values(profile), decode_container(
        profile, env=[{"name": "OTEL_SERVICE_NAME", "value": "mine"}]))
    launch = vllm_launch(values, profile)
    assert launch.env_list[0] == ("OTEL_SERVICE_NAME", "mine")
    assert launch.env["OTEL_SERVICE_NAME"] == "vllm-decode"  # Kubernetes keeps the last duplicate


def test_service_names_override(profile):
    values = deep_merge(baseline_values(profile), {"tracing": {"serviceNames": {"vllmDecode": "renamed"}}})
    assert expected_service(values, profile, "vllm-decode") == "renamed"
    assert expected_service(values, profile, "epp") == "gateway-api-inference-extension/epp"


def test_epp_flag_env_and_chart_defaults(profile):
    on = epp_launch(baseline_values(profile), profile)
    assert on.args[-1] == "--tracing=true" and on.env["OTEL_TRACES_EXPORTER"] == "otlp"
    assert not {"--pool-name", "--pool-namespace", "--config-file"} & set(on.args), "the local platform names its pool"
    assert on.env["OTEL_SERVICE_NAME"] == "gateway-api-inference-extension/epp"
    # the Downward API fields a pod would fill, filled for a process; $(VAR) expanded as the kubelet does
    assert on.env["OTEL_RESOURCE_ATTRIBUTES"] == \
        "k8s.namespace.name=llmd-trace-e2e,k8s.node.name=localhost,k8s.pod.name=epp-local"
    bare = epp_launch({"inferenceExtension": {"tracing": {"enabled": True}}}, profile)
    # The GAIE chart's own defaults, not the guide's: a bare switch exports to localhost at 10%.
    assert bare.env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://localhost:4317"
    assert bare.env["OTEL_TRACES_SAMPLER_ARG"] == "0.1"
    off = epp_launch({"inferenceExtension": {"tracing": {"enabled": False}}}, profile)
    assert off.args[-1] == "--tracing=false" and off.env == {} and expected_service({}, profile, "epp") is None


def test_epp_user_env_comes_after_the_charts(profile):
    values = deep_merge(baseline_values(profile), {"inferenceExtension": {"env": [
        {"name": "OTEL_SERVICE_NAME", "value": "my-epp"}]}})
    launch = epp_launch(values, profile)
    assert [n for n, _ in launch.env_list].count("OTEL_SERVICE_NAME") == 2
    assert launch.env["OTEL_SERVICE_NAME"] == "my-epp"  # the user's, last, wins here


def test_localize_swaps_only_in_cluster_addresses(profile):
    launch = localize(vllm_launch(baseline_values(profile), profile), LOCAL)
    assert launch.env["OTEL_EXPORTER_OTLP_ENDPOINT"] == LOCAL and launch.args[1] == LOCAL
    elsewhere = deep_merge(baseline_values(profile), {"tracing": {"otlpEndpoint": "http://localhost:4317"}})
    assert localize(vllm_launch(elsewhere, profile), LOCAL).args[1] == "http://localhost:4317"


def test_the_local_epp_launch_is_the_real_charts_and_the_emulation_agrees(profile, monkeypatch):
    from llmd_trace_e2e.deployment import charts
    from llmd_trace_e2e.deployment.chart_render import ChartUnavailable

    from .real_charts import real_chart_or_skip

    pin = profile.charts["epp"]
    real_chart_or_skip(pin.chart, pin.version, "the local EPP's launch from the real render")
    real = epp_launch(baseline_values(profile), profile)
    assert real.notes == (f"rendered by helm ({pin.chart} {pin.version})",)

    def unavailable(*args, **kwargs):
        raise ChartUnavailable(pin.chart, pin.version, "FAKE: made unavailable to compare with the emulation")

    monkeypatch.setattr(charts, "render_chart", unavailable)
    charts._predict_cached.cache_clear()
    emulated = epp_launch(baseline_values(profile), profile)
    charts._predict_cached.cache_clear()
    assert emulated.notes[0].startswith("rendered by emulation")
    assert (emulated.args, emulated.env_list) == (real.args, real.env_list)
