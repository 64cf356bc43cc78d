"""Helm values -> the flags and env the charts render, as the local platform applies them."""
import pytest

from llmd_trace_e2e.charts import epp_launch, localize, vllm_launch
from llmd_trace_e2e.local.platform import baseline_values
from llmd_trace_e2e.platform import expected_service
from llmd_trace_e2e.profiles import load_profile
from llmd_trace_e2e.values import COLLECTOR_ENDPOINT, deep_merge

LOCAL = "http://127.0.0.1:4999"


@pytest.fixture(scope="module")
def profile():
    return load_profile("local")


def test_baseline_vllm_gets_the_guides_env_and_args(profile):
    launch = vllm_launch(baseline_values(profile), profile)
    assert launch.tracing
    assert launch.env == {"OTEL_SERVICE_NAME": "vllm-decode", "OTEL_EXPORTER_OTLP_ENDPOINT": COLLECTOR_ENDPOINT,
                          "OTEL_TRACES_EXPORTER": "otlp", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                          "OTEL_TRACES_SAMPLER_ARG": "1.0"}
    assert launch.args == ("--otlp-traces-endpoint", COLLECTOR_ENDPOINT, "--collect-detailed-traces", "all")


def test_disabled_and_custom_command_inject_nothing(profile):
    off = deep_merge(baseline_values(profile), {"tracing": {"enabled": False}})
    assert vllm_launch(off, profile).env == {} and not vllm_launch(off, profile).tracing
    custom = deep_merge(baseline_values(profile), {"decode": {"containers": [{"modelCommand": "custom"}]}})
    launch = vllm_launch(custom, profile)
    assert not launch.tracing and launch.args == () and "custom" in launch.notes[0]


def test_container_env_comes_first_so_the_charts_service_name_wins(profile):
    values = deep_merge(baseline_values(profile), {"decode": {"containers": [
        {"modelCommand": "vllmServe", "env": [{"name": "OTEL_SERVICE_NAME", "value": "mine"}]}]}})
    launch = vllm_launch(values, profile)
    assert launch.env_list[0] == ("OTEL_SERVICE_NAME", "mine")
    assert launch.env["OTEL_SERVICE_NAME"] == "vllm-decode"  # Kubernetes keeps the last duplicate


def test_service_names_override(profile):
    values = deep_merge(baseline_values(profile), {"tracing": {"serviceNames": {"vllmDecode": "renamed"}}})
    assert expected_service(values, profile, "vllm-decode") == "renamed"
    assert expected_service(values, profile, "epp") == "gateway-api-inference-extension/epp"


def test_epp_flag_env_and_chart_defaults(profile):
    on = epp_launch(baseline_values(profile), profile)
    assert on.args == ("--tracing=true",) and on.env["OTEL_TRACES_EXPORTER"] == "otlp"
    assert on.env["OTEL_SERVICE_NAME"] == "gateway-api-inference-extension/epp"
    bare = epp_launch({"inferenceExtension": {"tracing": {"enabled": True}}}, profile)
    # The GAIE chart's own defaults, not the guide's: a bare switch exports to localhost at 10%.
    assert bare.env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://localhost:4317"
    assert bare.env["OTEL_TRACES_SAMPLER_ARG"] == "0.1"
    off = epp_launch({"inferenceExtension": {"tracing": {"enabled": False}}}, profile)
    assert off.args == ("--tracing=false",) and off.env == {} and expected_service({}, profile, "epp") is None


def test_localize_swaps_only_in_cluster_addresses(profile):
    launch = localize(vllm_launch(baseline_values(profile), profile), LOCAL)
    assert launch.env["OTEL_EXPORTER_OTLP_ENDPOINT"] == LOCAL and launch.args[1] == LOCAL
    elsewhere = deep_merge(baseline_values(profile), {"tracing": {"otlpEndpoint": "http://localhost:4317"}})
    assert localize(vllm_launch(elsewhere, profile), LOCAL).args[1] == "http://localhost:4317"
