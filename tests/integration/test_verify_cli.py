"""`llmd-trace-e2e verify-collector-config` run as a user would, on real processes."""
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from llmd_trace_e2e.traffic.canaries import CONTROL_CANARIES
from llmd_trace_e2e.runtime.paths import config_dir

pytestmark = pytest.mark.integration


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "llmd_trace_e2e.commands.cli", *args], capture_output=True, text=True,
                          timeout=120)


GUIDE_SIX, CHILDREN, HEALTH, CONTROLS = 6, 2, 7, len(CONTROL_CANARIES)


def verdict_line(stdout):
    return next(line for line in stdout.splitlines() if line.startswith("verdict:"))


def test_the_guides_config_passes_its_six_patterns_and_is_reported_leaking_children_and_health():
    result = run_cli("verify-collector-config", str(config_dir() / "collector" / "guide.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verdict: PASS" in result.stdout
    assert result.stdout.count("| ok |") == GUIDE_SIX + CONTROLS, result.stdout
    assert result.stdout.count("| gap |") == CHILDREN + HEALTH, result.stdout
    gaps = [line for line in result.stdout.splitlines() if line.startswith("gap: ")]
    assert len(gaps) == 2, result.stdout
    assert 'children of scrape spans got through: name == "GET /metrics http send"' in gaps[0]
    assert 'health checks got through: url.path == "/health"' in gaps[1]
    assert all("config/collector/guide-with-fixes.yaml" in line for line in gaps)


def test_the_recommended_config_passes_every_canary():
    result = run_cli("verify-collector-config", str(config_dir() / "collector" / "guide-with-fixes.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("| ok |") == GUIDE_SIX + CHILDREN + HEALTH + CONTROLS, result.stdout
    assert "| gap |" not in result.stdout and "gap: " not in result.stdout, result.stdout


def test_the_guides_minimal_operator_resource_fails_naming_what_leaked(tmp_path):
    """The guide's 'minimal example' keeps only two of the six patterns."""
    resource = {
        "apiVersion": "opentelemetry.io/v1beta1", "kind": "OpenTelemetryCollector",
        "metadata": {"name": "llm-d-collector", "namespace": "monitoring"},
        "spec": {"mode": "deployment", "config": {
            "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": "0.0.0.0:4317"}}}},
            "processors": {"filter/drop-metrics-scraping": {"error_mode": "ignore", "traces": {"span": [
                'attributes["url.path"] == "/metrics"', 'name == "GET /metrics"']}}, "batch": {}},
            "exporters": {"otlp": {"endpoint": "jaeger-collector.monitoring.svc.cluster.local:4317",
                                   "tls": {"insecure": True}}},
            "service": {"pipelines": {"traces": {"receivers": ["otlp"],
                                                 "processors": ["filter/drop-metrics-scraping", "batch"],
                                                 "exporters": ["otlp"]}}}}},
    }
    path = tmp_path / "minimal.yaml"
    path.write_text(yaml.safe_dump(resource))
    result = run_cli("verify-collector-config", str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    verdict = verdict_line(result.stdout)
    assert verdict.startswith("verdict: FAIL: /metrics spans got through: "), result.stdout
    for leaked in ('http.route == "/metrics"', 'http.target == "/metrics"', 'http.url == "/metrics"', 'name == "GET"'):
        assert leaked in verdict
    assert 'url.path == "/metrics"' not in verdict


def test_a_config_without_the_filter_fails(tmp_path):
    body = yaml.safe_load((config_dir() / "collector" / "guide.yaml").read_text())
    body["service"]["pipelines"]["traces"]["processors"] = ["batch"]
    path = tmp_path / "nofilter.yaml"
    path.write_text(yaml.safe_dump(body))
    result = run_cli("verify-collector-config", str(path))
    assert result.returncode == 1
    assert result.stdout.count("| FAIL |") == GUIDE_SIX, result.stdout
    assert result.stdout.count("| gap |") == CHILDREN + HEALTH, result.stdout


@pytest.mark.parametrize("text,message", [
    ("receivers: [oops\n", "is not valid YAML"),
    ("service: {pipelines: {metrics: {receivers: [otlp]}}}\n", "has no traces pipeline"),
])
def test_bad_configs_get_one_clear_line(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = run_cli("verify-collector-config", str(path))
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_forward_connector_config_runs_as_written_and_says_what_moved():
    data = Path(__file__).resolve().parents[1] / "data" / "collector-configs"
    result = run_cli("verify-collector-config", str(data / "forward-two-stage.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert verdict_line(result.stdout).startswith("verdict: PASS"), result.stdout
    assert "path to the backend: otlp -> traces/in -> forward -> traces/out -> otlp/backend" in result.stdout
    assert "run as written, except: exporter otlp/backend: tls, headers set aside" in result.stdout
    assert "run as written, except: added pipeline traces/harness-tap" in result.stdout


def test_a_component_the_build_lacks_is_refused_in_one_line(tmp_path):
    data = Path(__file__).resolve().parents[1] / "data" / "collector-configs"
    result = run_cli("verify-collector-config", str(data / "routing-connector.yaml"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "connector `routing` is not in the harness's collector build" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_missing_file_is_named(tmp_path):
    result = run_cli("verify-collector-config", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2 and "cannot read collector config" in result.stderr
