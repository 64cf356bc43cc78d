"""The guide's promise for a pod, and how a pod breaks it (the kind pod checks use these)."""
from __future__ import annotations

from llmd_trace_e2e.deployment.guide_promise import custom_command_env_promise, epp_promise, vllm_promise
from llmd_trace_e2e.platforms.kind.pods import ContainerView
from llmd_trace_e2e.deployment.profiles import load_profile
from llmd_trace_e2e.deployment.values import COLLECTOR_ENDPOINT

GUIDE = load_profile("helmfile-guide")
ON = {"global": {"tracing": {"enabled": True, "serviceNames": {"vllmDecode": "vllm-decode"}}},
      "decode": {"containers": [{"name": "vllm", "modelCommand": "vllmServe"}]},
      "inferenceExtension": {"tracing": {"enabled": True, "sampling": {"samplerArg": "1.0"}}}}
KEPT_ENV = {"OTEL_SERVICE_NAME": "vllm-decode", "OTEL_EXPORTER_OTLP_ENDPOINT": COLLECTOR_ENDPOINT,
            "OTEL_TRACES_EXPORTER": "otlp", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "1.0", "DP_SIZE": "1"}
KEPT_ARGS = ("vllm", "serve", "m", "--otlp-traces-endpoint", COLLECTOR_ENDPOINT, "--collect-detailed-traces", "all")


def pod(env, args=KEPT_ARGS):
    return ContainerView("trace-e2e-ms-decode-x", "vllm", tuple(args), dict(env))


def test_a_pod_with_the_guides_env_and_args_keeps_the_promise():
    assert vllm_promise(ON, GUIDE).broken_by(pod(KEPT_ENV)) == []


def test_each_break_is_named():
    broken = vllm_promise(ON, GUIDE).broken_by(pod({**KEPT_ENV, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4317"},
                                                   KEPT_ARGS[:3]))
    assert any("OTEL_EXPORTER_OTLP_ENDPOINT='http://otel-collector:4317', the guide promises" in b for b in broken)
    assert any("lack --otlp-traces-endpoint" in b for b in broken)
    assert all(b.startswith("trace-e2e-ms-decode-x/vllm: ") for b in broken)


def test_off_and_custom_promise_absences_with_a_positive_control():
    off = {**ON, "global": {"tracing": {"enabled": False}}}
    assert vllm_promise(off, GUIDE).broken_by(pod({}, KEPT_ARGS[:3])) == []
    assert len(vllm_promise(off, GUIDE).broken_by(pod(KEPT_ENV))) == 5 + 2
    custom = {**ON, "decode": {"containers": [{"name": "vllm", "modelCommand": "custom"}]}}
    assert vllm_promise(custom, GUIDE).broken_by(pod(KEPT_ENV, ("sh", "-c", "vllm serve m"))) == []
    assert len(custom_command_env_promise().broken_by(pod(KEPT_ENV))) == 5


def test_the_per_container_override_is_what_the_guide_promises():
    override = {**ON, "decode": {"containers": [{"name": "vllm", "modelCommand": "vllmServe",
                                                 "env": [{"name": "OTEL_SERVICE_NAME", "value": "mine"}]}]}}
    assert vllm_promise(override, GUIDE).env["OTEL_SERVICE_NAME"] == "mine"


def test_epp_promise_uses_the_guides_default_endpoint():
    promise = epp_promise(ON, GUIDE)
    assert promise.env["OTEL_EXPORTER_OTLP_ENDPOINT"] == COLLECTOR_ENDPOINT and promise.args == (("--tracing=true",),)
