"""decode.replicas on the local platform: each replica its own Pod name, given to it as the
Downward API would (the charts' metadata.name fieldRef)."""
from llmd_trace_e2e.deployment.charts import Launch
from llmd_trace_e2e.platforms.local.launches import decode_replicas, for_replica, replica_pod


def test_replicas_default_to_one():
    assert decode_replicas({}) == 1
    assert decode_replicas({"decode": {"replicas": 2}}) == 2


def test_each_replica_gets_its_own_pod_name_in_its_env():
    launch = Launch(("--otlp-traces-endpoint", "x"), (("POD_NAME", "vllm-local"),
                                                     ("OTEL_RESOURCE_ATTRIBUTES", "k8s.pod.name=vllm-local,a=b"),
                                                     ("OTEL_SERVICE_NAME", "vllm-decode")), True)
    assert for_replica(launch, 0) == launch
    second = for_replica(launch, 1).env
    assert second["POD_NAME"] == replica_pod(1) == "vllm-local-1"
    assert second["OTEL_RESOURCE_ATTRIBUTES"] == "k8s.pod.name=vllm-local-1,a=b"
    assert second["OTEL_SERVICE_NAME"] == "vllm-decode"
