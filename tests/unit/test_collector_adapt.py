"""A user's collector config made to run here (collector_adapt.py) and the paths spans take
through it (collector_paths.py), on the configs of tests/data/collector-configs: plain values,
no collector (tests/integration/test_collector_shapes.py runs them for real)."""
import copy
from pathlib import Path

import pytest
import yaml

from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.deployment.collector_adapt import (
    TAP_PIPELINE, LocalTargets, TraceDestination, adapt_for_cluster, adapt_for_local, check_components, local_ports_needed)
from llmd_trace_e2e.deployment.collector_config import load_collector_config, parse_collector_config, repo_collector_config
from llmd_trace_e2e.deployment.collector_paths import backend_paths

DATA = Path(__file__).resolve().parents[1] / "data" / "collector-configs"
EXPECTED = yaml.safe_load((DATA / "expected.yaml").read_text())


def shape(name):
    return load_collector_config(DATA / name)


def targets(config, tmp_path):
    spare = list(range(20000, 20000 + local_ports_needed(config)))
    to = TraceDestination("127.0.0.1:10004", "http://127.0.0.1:10005", "the run's Jaeger")
    return LocalTargets(10001, 10002, 10003, to, tmp_path, tmp_path / "tap.jsonl", spare)


@pytest.mark.parametrize("name", ["forward-two-stage.yaml", "two-traces-pipelines.yaml", "recipe-four-conditions.yaml"])
def test_only_listen_addresses_and_backend_destinations_change(name, tmp_path):
    config = shape(name)
    adapted = adapt_for_local(config, targets(config, tmp_path))
    body, given = adapted.config.body, config.body
    pipelines = dict(body["service"]["pipelines"])
    tap = pipelines.pop(TAP_PIPELINE)
    assert pipelines == given["service"]["pipelines"], "the user's pipelines must run as written"
    assert tap == {"receivers": ["otlp"], "processors": [], "exporters": ["file/harness-tap"]}
    assert body["processors"] == given["processors"]
    assert body.get("connectors") == given.get("connectors")
    assert body["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] == "127.0.0.1:10001"
    if "keepalive" in given["receivers"]["otlp"]["protocols"]["grpc"]:
        assert body["receivers"]["otlp"]["protocols"]["grpc"]["keepalive"] == \
            given["receivers"]["otlp"]["protocols"]["grpc"]["keepalive"]
    for exporter in adapted.backend_exporters:
        assert body["exporters"][exporter] == {"endpoint": "127.0.0.1:10004", "tls": {"insecure": True}}
    for note in EXPECTED[name]["notes"]:
        assert any(line.startswith(note) for line in adapted.notes), (note, adapted.notes)


def test_tls_headers_set_aside_and_listening_extensions_moved_not_dropped(tmp_path):
    config = shape("forward-two-stage.yaml")
    adapted = adapt_for_local(config, targets(config, tmp_path))
    body = adapted.config.body
    assert body["service"]["extensions"] == ["health_check", "pprof", "zpages"]
    ports = {body["extensions"][e]["endpoint"] for e in ("health_check", "pprof", "zpages")}
    assert len(ports) == 3 and all(p.startswith("127.0.0.1:20") for p in ports), ports
    assert [n for n in adapted.notes if "set aside" in n] == [
        "exporter otlp/backend: tls, headers set aside: it sends to the run's Jaeger (127.0.0.1:10004), "
        "which takes plain OTLP"]


def test_otlphttp_exporters_file_exporters_and_metrics_pipelines(tmp_path):
    text = """
receivers: {otlp: {protocols: {grpc: {}, http: {}}}, otlp/metrics: {protocols: {grpc: {endpoint: 0.0.0.0:9999}}}}
extensions: {bearertokenauth: {token: x}}
exporters:
  otlphttp/saas: {endpoint: https://saas.example, auth: {authenticator: bearertokenauth}, compression: zstd}
  file/audit: {path: /var/log/otel/audit.json}
  otlp/metrics-backend: {endpoint: prometheus.example:4317}
service:
  extensions: [bearertokenauth]
  pipelines:
    traces: {receivers: [otlp], exporters: [otlphttp/saas, file/audit]}
    metrics: {receivers: [otlp/metrics], exporters: [otlp/metrics-backend]}
"""
    config = parse_collector_config(text, "saas.yaml")
    adapted = adapt_for_local(config, targets(config, tmp_path))
    body = adapted.config.body
    assert body["exporters"]["otlphttp/saas"] == {"compression": "zstd", "endpoint": "http://127.0.0.1:10005"}
    assert body["exporters"]["file/audit"]["path"] == str(tmp_path / "exporter-file-audit.jsonl")
    assert body["service"]["pipelines"]["metrics"] == config.body["service"]["pipelines"]["metrics"]
    assert body["receivers"]["otlp/metrics"]["protocols"]["grpc"]["endpoint"].startswith("127.0.0.1:20")
    assert "bearertokenauth" not in body.get("extensions", {}) and body["service"]["extensions"] == []
    assert "extension bearertokenauth: set aside with the exporter auth that used it" in adapted.notes
    # the metrics pipeline's exporter sends no traces: it is left alone
    assert body["exporters"]["otlp/metrics-backend"] == config.body["exporters"]["otlp/metrics-backend"]
    assert adapted.backend_exporters == ("otlphttp/saas",)


def test_a_component_the_build_lacks_is_refused_in_one_line_naming_it():
    build = {"receivers": {"otlp"}, "processors": {"batch", "filter"}, "exporters": {"otlp_grpc", "debug"},
             "connectors": {"forward"}, "extensions": set()}
    check_components(repo_collector_config(), build, "otelcol 0.161.0")  # otlp/jaeger: the otlp_grpc alias
    with pytest.raises(ConfigError) as info:
        check_components(shape("routing-connector.yaml"), build, "otelcol 0.161.0")
    assert EXPECTED["routing-connector.yaml"]["refused"] in str(info.value)
    assert len(str(info.value).splitlines()) == 1


def test_the_harness_needs_an_otlp_grpc_receiver_first(tmp_path):
    config = parse_collector_config("receivers: {otlp: {protocols: {http: {}}}}\n"
                                    "service: {pipelines: {traces: {receivers: [otlp], exporters: [debug]}}}", "h.yaml")
    with pytest.raises(ConfigError, match="receiver otlp has no protocols.grpc"):
        adapt_for_local(config, targets(config, tmp_path))


@pytest.mark.parametrize("name", ["forward-two-stage.yaml", "two-traces-pipelines.yaml", "recipe-four-conditions.yaml"])
def test_the_paths_and_the_unfiltered_ones(name):
    config = shape(name)
    paths = backend_paths(config)
    assert [p.describe() for p in paths] == EXPECTED[name]["paths"]
    assert [p.describe() for p in paths if not p.filtered] == EXPECTED[name]["unfiltered"]


def test_the_paths_do_not_depend_on_the_order_pipelines_are_written():
    config = shape("two-traces-pipelines.yaml")
    body = copy.deepcopy(config.body)
    body["service"]["pipelines"] = dict(reversed(list(body["service"]["pipelines"].items())))
    reordered = parse_collector_config(yaml.safe_dump(body, sort_keys=False), "reordered.yaml")
    assert sorted(p.describe() for p in backend_paths(reordered)) == sorted(EXPECTED["two-traces-pipelines.yaml"]["paths"])
    [unfiltered] = [p for p in backend_paths(reordered) if not p.filtered]
    assert unfiltered.samplers == ("probabilistic_sampler",)


def test_a_connector_loop_ends_the_path():
    text = """
receivers: {otlp: {protocols: {grpc: {}}}}
connectors: {forward/a: {}, forward/b: {}}
processors: {filter: {traces: {span: ['name == "GET"']}}}
exporters: {otlp: {endpoint: x:4317}}
service:
  pipelines:
    traces/a: {receivers: [otlp, forward/b], processors: [filter], exporters: [forward/a, otlp]}
    traces/b: {receivers: [forward/a], exporters: [forward/b]}
"""
    paths = backend_paths(parse_collector_config(text, "loop.yaml"))
    assert [p.describe() for p in paths] == ["otlp -> traces/a -> otlp"]


def test_the_cluster_runs_the_repos_config_unchanged_and_moves_only_addresses_of_others():
    guide = repo_collector_config()
    to = TraceDestination("jaeger-collector.monitoring.svc.cluster.local:4317", "http://j:4318", "the cluster's Jaeger")
    same = adapt_for_cluster(guide, to, 4317, 4318)
    assert same.config.body == guide.body and same.notes == ()
    recipe = shape("recipe-four-conditions.yaml")
    moved = adapt_for_cluster(recipe, to, 4317, 4318)
    assert moved.config.body["exporters"]["otlp/jaeger"]["endpoint"] == "jaeger-collector.monitoring.svc.cluster.local:4317"
    assert moved.config.body["service"] == recipe.body["service"]
    assert moved.notes == ("exporter otlp/jaeger: sends to the cluster's Jaeger",)
