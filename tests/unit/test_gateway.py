"""The gateway's two modes, from the harness's own values (gateway.tracing.*): Envoy's bootstrap
on the local platform (checked by the real Envoy's validate mode) and Istio's on kind."""
from __future__ import annotations

import subprocess

import pytest
import yaml

from llmd_trace_e2e.runtime.errors import ConfigError, ToolMissing
from llmd_trace_e2e.deployment.gateway_values import DEFAULT_SERVICE, GatewayTracing
from llmd_trace_e2e.platforms.kind import manifests
from llmd_trace_e2e.platforms.local.envoy import GatewaySettings, bootstrap
from llmd_trace_e2e.runtime.paths import tool

TRACED = GatewayTracing(enabled=True, service_name="my-gateway", sampling_percent=25.0)


def settings(tracing: GatewayTracing) -> GatewaySettings:
    return GatewaySettings(18080, 18081, "127.0.0.1:19002", "http://127.0.0.1:14317", tracing,
                           route_timeout_s=50, message_timeout_s=30)


def connection_manager(config: dict) -> dict:
    return config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]


def test_the_gateway_is_transparent_unless_the_values_turn_tracing_on():
    assert GatewayTracing.from_values({}) == GatewayTracing()
    assert GatewayTracing.from_values({}).service is None
    values = {"gateway": {"tracing": {"enabled": True, "serviceName": "my-gateway", "randomSamplingPercentage": 25}}}
    assert GatewayTracing.from_values(values) == TRACED
    assert TRACED.service == "my-gateway"
    assert GatewayTracing(enabled=True).service == DEFAULT_SERVICE


@pytest.mark.parametrize("block, message", [
    ({"enable": True}, "unknown gateway key gateway.tracing.enable; did you mean gateway.tracing.enabled?"),
    ({"enabled": "yes"}, "gateway.tracing.enabled must be true or false, not 'yes'"),
    ({"randomSamplingPercentage": 150}, "must be between 0 and 100, not 150"),
    ({"serviceName": 3}, "gateway.tracing.serviceName must be a string, not 3"),
])
def test_bad_gateway_values_are_refused_in_one_line(block, message):
    with pytest.raises(ConfigError) as err:
        GatewayTracing.from_values({"gateway": {"tracing": block}})
    assert message in str(err.value) and "\n" not in str(err.value)


def test_transparent_envoy_has_no_tracer():
    config = bootstrap(settings(GatewayTracing()))
    assert "tracing" not in connection_manager(config)
    assert [c["name"] for c in config["static_resources"]["clusters"]] == ["epp", "model-servers"]
    ext_proc = connection_manager(config)["http_filters"][0]["typed_config"]
    assert ext_proc["processing_mode"]["request_body_mode"] == "FULL_DUPLEX_STREAMED"
    assert ext_proc["message_timeout"] == "30.000s"


def test_traced_envoy_exports_to_the_collector_under_the_values_service_name():
    config = bootstrap(settings(TRACED))
    tracing = connection_manager(config)["tracing"]
    assert tracing["provider"]["typed_config"]["service_name"] == "my-gateway"
    assert tracing["random_sampling"] == {"value": 25.0}
    collector = next(c for c in config["static_resources"]["clusters"] if c["name"] == "otel-collector")
    endpoint = collector["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
    assert endpoint["socket_address"] == {"address": "127.0.0.1", "port_value": 14317}


@pytest.mark.parametrize("tracing", [GatewayTracing(), TRACED], ids=["transparent", "traced"])
def test_the_real_envoy_accepts_the_bootstrap(tmp_path, tracing):
    try:
        envoy = tool("envoy")
    except ToolMissing as err:
        pytest.skip(str(err))
    path = tmp_path / "envoy.yaml"
    path.write_text(yaml.safe_dump(bootstrap(settings(tracing))))
    result = subprocess.run([envoy, "--mode", "validate", "-c", path, "--disable-hot-restart"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"envoy refused {path}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"


def test_istio_traces_the_gateway_only_in_traced_mode():
    assert "extensionProviders" not in manifests.istiod_values(GatewayTracing())["meshConfig"]
    assert not [o for o in manifests.gateway(GatewayTracing()) if o["kind"] == "Telemetry"]
    [provider] = manifests.istiod_values(TRACED)["meshConfig"]["extensionProviders"]
    assert provider["opentelemetry"] == {"service": "opentelemetry-collector.monitoring.svc.cluster.local",
                                         "port": 4317}
    [telemetry] = [o for o in manifests.gateway(TRACED) if o["kind"] == "Telemetry"]
    assert telemetry["spec"]["tracing"] == [{"providers": [{"name": provider["name"]}],
                                             "randomSamplingPercentage": 25.0}]
