from llmd_trace_e2e.platforms.kind.pods import container_views, epp_containers, vllm_containers

POD = {"metadata": {"name": "trace-e2e-ms-decode-7d9f-abc"},
       "spec": {"initContainers": [{"name": "tiny-model", "command": ["python3"]}],
                "containers": [{"name": "vllm", "command": ["vllm", "serve"], "args": [
                    "m", "--otlp-traces-endpoint", "http://c:4317", "--collect-detailed-traces", "all"],
                    "env": [{"name": "OTEL_SERVICE_NAME", "value": "mine"},
                            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                            {"name": "OTEL_SERVICE_NAME", "value": "vllm-decode"}]}]}}
EPP = {"metadata": {"name": "trace-e2e-epp-1"}, "spec": {"containers": [{"name": "epp", "args": ["--pool-name", "p", "--tracing=true"]}]}}


def test_views_keep_the_last_duplicate_and_skip_value_from():
    views = container_views([POD, EPP])
    [vllm] = vllm_containers(views)
    assert vllm.env == {"OTEL_SERVICE_NAME": "vllm-decode"}
    assert vllm.has_args(("--otlp-traces-endpoint", "http://c:4317"))
    assert not vllm.has_args(("--otlp-traces-endpoint", "all"))
    assert [v.pod for v in epp_containers(views)] == ["trace-e2e-epp-1"]
