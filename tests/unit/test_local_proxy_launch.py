"""The routing proxy's launch on the local platform: the chart's render (llm-d-modelservice's
routing-proxy container, --connector post-rendered to pd-sidecar v0.10.0's --kv-connector), with
only the two ports moved and --tracing added where the render's env turns tracing on; each change
labelled for the launch log."""
from __future__ import annotations

from pathlib import Path

from llmd_trace_e2e.platforms.local.launches import baseline_values
from llmd_trace_e2e.platforms.local.proxy import TRACING_OVERRIDE, sidecar_argv
from llmd_trace_e2e.deployment.charts import proxy_launch
from llmd_trace_e2e.deployment.profiles import load_profile
from llmd_trace_e2e.deployment.values import deep_merge


def launch(values_overlay=None):
    profile = load_profile("local-kustomize-guide")
    return proxy_launch(deep_merge(baseline_values(profile), values_overlay or {}), profile)


def test_the_render_with_ports_moved_and_tracing_added_each_labelled():
    rendered = launch()
    assert "--kv-connector=nixlv2" in rendered.args and not any(a.startswith("--connector=") for a in rendered.args)
    assert rendered.tracing and rendered.env["OTEL_SERVICE_NAME"] == "routing-proxy"
    argv, notes = sidecar_argv(Path("/x/pd-sidecar"), rendered, 4101, 4102)
    assert argv[0] == "/x/pd-sidecar"
    assert "--port=4101" in argv and "--vllm-port=4102" in argv, argv
    assert argv.count("--tracing") == 1
    assert [a for a in argv[1:] if not a.startswith(("--port=", "--vllm-port=", "--tracing"))] == \
        [a for a in rendered.args if not a.startswith(("--port=", "--vllm-port="))], "every other render flag kept"
    assert any("--port=4101 (render: --port=8000)" in n for n in notes), notes
    assert TRACING_OVERRIDE in notes


def test_no_tracing_flag_where_the_values_turn_tracing_off():
    off = launch({"tracing": {"enabled": False}})
    assert not off.tracing and "OTEL_SERVICE_NAME" not in off.env
    argv, notes = sidecar_argv(Path("pd-sidecar"), off, 1, 2)
    assert "--tracing" not in argv and TRACING_OVERRIDE not in notes
