"""spec/kustomize_modelserver.py on its own (pure): the values block a kustomize model server
takes, what the harness gives a vLLM process for it, and refusals in one line. Against the real
kustomize: tests/unit/test_kustomize_component.py."""
from __future__ import annotations

import pytest

from llmd_trace_e2e.deployment import kustomize_modelserver as component
from llmd_trace_e2e.deployment.charts import Launch, is_in_cluster, localize, vllm_launch
from llmd_trace_e2e.deployment.profiles import load_profile
from llmd_trace_e2e.deployment.values import tracing_values


def test_vllm_tracing_gives_the_components_args_and_the_values_env():
    args, env = component.vllm_tracing({"sampling": {"samplerArg": "0.25"}}, ["/m", "--port", "8000"],
                                       [("PYTHONPATH", "/opt")])
    assert args == ("/m", "--port", "8000", *component.COMPONENT_ARGS)
    assert env[0] == ("OTEL_TRACES_SAMPLER_ARG", "0.25"), "the values patch's entries come first, as kustomize orders them"
    assert dict(env)["OTEL_SERVICE_NAME"] == "vllm-decode" and env[-1] == ("PYTHONPATH", "/opt")
    assert component.expand_args(args, env)[-2] == "--otlp-traces-endpoint=http://otel-collector:4317"


def test_tracing_off_leaves_the_container_as_it_was():
    args, env = component.vllm_tracing({"enabled": False}, ["/m"], [("PYTHONPATH", "/opt")])
    assert (args, env) == (("/m",), (("PYTHONPATH", "/opt"),))


@pytest.mark.parametrize("block, needle", [({"serviceNames": {"vllmPrefill": "p"}}, "patches only the decode"),
                                           ({"sampling": {"samplerArgs": "1"}}, "did you mean tracing.sampling.samplerArg?"),
                                           ({"bogus": 1}, "known keys: tracing.enabled")])
def test_a_key_without_meaning_is_refused_in_one_line(block, needle):
    with pytest.raises(component.KustomizeValuesError) as refused:
        component.values_patches(block, 3)
    assert needle in str(refused.value) and "\n" not in str(refused.value)


def test_the_local_launch_of_the_kustomize_profile_reaches_the_local_collector():
    """What a local profile built on the component would give vLLM (the launch the local platform starts)."""
    profile = load_profile("kustomize-guide")
    values = tracing_values(profile, "modelservice")
    launch = localize(vllm_launch(values, profile), "http://127.0.0.1:4999")
    assert isinstance(launch, Launch) and launch.tracing
    assert launch.args == ("--otlp-traces-endpoint", "http://127.0.0.1:4999", "--collect-detailed-traces", "all")
    assert launch.env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4999"
    assert launch.env["OTEL_TRACES_SAMPLER_ARG"] == "1.0"
    off = vllm_launch({"tracing": {"enabled": False}}, profile)
    assert not off.tracing and not off.args and not off.env


@pytest.mark.parametrize("endpoint, inside", [("http://otel-collector:4317", True),
                                              ("http://otel-collector.llm-d.svc:4317", True),
                                              ("http://localhost:4317", False), ("http://collector.example.com:4317", False)])
def test_a_bare_service_name_is_an_in_cluster_address(endpoint, inside):
    assert is_in_cluster(endpoint) is inside
