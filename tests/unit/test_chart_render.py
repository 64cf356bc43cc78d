"""The real-render plumbing that needs no helm: reading containers out of rendered documents,
helm's refusal as one line, and where a chart can be had."""
from __future__ import annotations

import pytest
import yaml

from llmd_trace_e2e.deployment.chart_render import (
    ChartRefused, ChartUnavailable, chart_source, containers_of, helm_reason, refused_key, render_chart)
from llmd_trace_e2e.runtime.errors import ConfigError

SCHEMA_ERROR = """Error: values don't meet the specifications of the schema(s) in the following chart(s):
llm-d-modelservice:
- at '/global/tracing/serviceNames': additional properties 'routingProxy' not allowed
"""

DECODE_POD = """
kind: Deployment
spec:
  template:
    metadata: {labels: {llm-d.ai/role: decode}}
    spec:
      initContainers:
      - {name: otel-sdk, image: x}
      - name: routing-proxy
        args: [--port=8000, --connector=nixlv2]
        env: [{name: OTEL_SERVICE_NAME, value: routing-proxy}]
      containers:
      - name: vllm
        command: [vllm, serve]
        args: [m, --port, "8200"]
        env:
        - {name: A, value: "1"}
        - name: NODE
          valueFrom: {fieldRef: {apiVersion: v1, fieldPath: spec.nodeName}}
---
kind: Deployment
spec:
  template:
    spec:
      containers:
      - {name: epp, args: [--tracing=true]}
---
kind: Service
"""


def test_containers_of_names_each_role_and_keeps_env_order():
    found = containers_of(yaml.safe_load_all(DECODE_POD))
    assert [(c.role, c.name) for c in found] == [("routing-proxy", "routing-proxy"), ("decode", "vllm"), ("epp", "epp")]
    vllm = found[1]
    assert vllm.env == (("A", "1"), ("NODE", "<fieldRef spec.nodeName>"))
    assert vllm.args == ("m", "--port", "8200") and vllm.command == ("vllm", "serve")
    assert vllm.as_json() == {"role": "decode", "name": "vllm", "env": [["A", "1"], ["NODE", "<fieldRef spec.nodeName>"]],
                              "args": ["m", "--port", "8200"]}


def test_helm_refusal_is_one_line_naming_the_key():
    reason = helm_reason("WARNING: something first\n" + SCHEMA_ERROR)
    assert reason == ("values don't meet the specifications of the schema(s) in the following chart(s): "
                      "llm-d-modelservice: - at '/global/tracing/serviceNames': additional properties "
                      "'routingProxy' not allowed")
    assert refused_key(reason) == "global.tracing.serviceNames.routingProxy"
    err = ChartRefused("llm-d-modelservice", "v0.4.6", reason)
    assert "\n" not in str(err)
    assert str(err).startswith("llm-d-modelservice v0.4.6 refuses global.tracing.serviceNames.routingProxy: ")
    assert isinstance(err, ConfigError)


def test_a_chart_no_source_carries_is_unavailable(tmp_path):
    assert chart_source("llm-d-modelservice", "v0.4.12") is None
    with pytest.raises(ChartUnavailable, match=r"llm-d-modelservice v0.4.12 cannot be rendered here: .*--chart"):
        render_chart("llm-d-modelservice", "v0.4.12", {})


def test_a_chart_folder_given_is_used_and_checked(tmp_path):
    (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nname: x\nversion: 0.1.0\n")
    assert chart_source("x", "v1", {"x": tmp_path}) == tmp_path
    with pytest.raises(ConfigError, match="no Chart.yaml there"):
        chart_source("x", "v1", {"x": tmp_path / "nope"})


def test_a_go_module_chart_is_copied_stamped_and_its_file_library_vendored(tmp_path, monkeypatch):
    from llmd_trace_e2e.deployment import chart_render

    module = tmp_path / "FAKE-module"  # stands in for the Go module cache's read-only copy
    chart, library = module / "config/charts/inferencepool", module / "config/charts/epplib"
    for folder, meta in ((chart, {"name": "inferencepool", "version": "0.0.0", "dependencies": [
            {"name": "inference-extension", "version": "0.0.0", "repository": "file://../epplib"}]}),
                         (library, {"name": "inference-extension", "version": "0.0.0", "type": "library"})):
        (folder / "templates").mkdir(parents=True)
        (folder / "Chart.yaml").write_text(yaml.safe_dump(meta))
        folder.chmod(0o555)
    monkeypatch.setenv("LLMD_TRACE_E2E_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(chart_render, "_go_module_dir", lambda mod, version: (module, ""))
    found = chart_source("inferencepool", "v9.8.7")
    meta = yaml.safe_load((found / "Chart.yaml").read_text())
    assert (meta["version"], meta["appVersion"]) == ("v9.8.7", "v9.8.7"), "stamped as the release script packages it"
    assert (found / "charts" / "epplib" / "Chart.yaml").exists(), "the file:// library is vendored, nothing fetched"
    assert chart_source("inferencepool", "v9.8.7") == found  # the second time from the cache


def test_strings_reach_helm_as_strings():
    """helm reads YAML 1.1, where a bare `y` or `n` is a boolean; PyYAML writes them bare."""
    from llmd_trace_e2e.platforms.kind.yamlout import dump

    assert yaml.safe_load(dump({"v": "y", "w": "N"})) == {"v": "y", "w": "N"}
    assert "'y'" in dump({"v": "y"})

    from .real_charts import real_chart_or_skip

    real_chart_or_skip("inferencepool", "v1.5.0", "a string value through the real chart")
    values = {"inferencePool": {"modelServers": {"matchLabels": {"a": "b"}}},
              "inferenceExtension": {"env": [{"name": "X", "value": "y"}]}}
    [epp] = containers_of(render_chart("inferencepool", "v1.5.0", values))
    assert epp.env_dict["X"] == "y"
