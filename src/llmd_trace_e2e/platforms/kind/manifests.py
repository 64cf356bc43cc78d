"""The Kubernetes objects the run applies itself (everything else comes from pinned charts)."""
from __future__ import annotations

import hashlib
from typing import Any, Iterable

from llmd_trace_e2e.deployment.collector_adapt import TraceDestination, adapt_for_cluster
from llmd_trace_e2e.deployment.collector_config import CollectorConfig
from llmd_trace_e2e.deployment.gateway_values import GatewayTracing
from llmd_trace_e2e.platforms.kind import yamlout
from llmd_trace_e2e.platforms.kind.options import MONITORING_NAMESPACE, NAMESPACE
from llmd_trace_e2e.platforms.kind.ports import (
    GATEWAY_PORT, GATEWAY_SERVICE_PORT, JAEGER_QUERY_SERVICE_PORT, OTLP_GRPC_PORT, OTLP_HTTP_PORT, collector_ports,
    jaeger_query_host_ports, service_port)

COLLECTOR_NAME = "opentelemetry-collector"  # the guide's default endpoint names this Service
COLLECTOR_CONFIG_KEY = "collector.yaml"
TRACE_BACKEND = "jaeger"  # what jaeger() deploys, by its name in traces/backends.py
JAEGER_SERVICE = "jaeger-collector"  # the tracing guide's name for Jaeger's Service, in llm-d's recipe too
GATEWAY_NAME = "llm-d-inference-gateway"
HTTPROUTE_NAME = "llmd-trace-e2e"
TINY_MODEL_CONFIGMAP = "tiny-model-script"


def dump_all(objects: Iterable[dict[str, Any]], header: str = "") -> str:
    body = yamlout.dump_all(objects)
    return (f"# {header}\n" if header else "") + body


def namespaces(*names: str) -> list[dict[str, Any]]:
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in names]


def _labels(app: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "llmd-trace-e2e"}


def _deployment(name: str, namespace: str, pod_spec: dict[str, Any], annotations: dict[str, str] | None = None):
    template_meta: dict[str, Any] = {"labels": _labels(name)}
    if annotations:
        template_meta["annotations"] = annotations
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": _labels(name)},
        "spec": {"replicas": 1, "selector": {"matchLabels": _labels(name)},
                 "template": {"metadata": template_meta, "spec": pod_spec}},
    }


def _service(name: str, namespace: str, app: str, ports: list[dict[str, Any]], node_port: bool = False):
    spec: dict[str, Any] = {"selector": _labels(app), "ports": ports}
    if node_port:
        spec["type"] = "NodePort"
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": spec}


def jaeger(image: str) -> list[dict[str, Any]]:
    """Jaeger v2 all-in-one, memory storage: OTLP in from the collector, query API out to the host."""
    container = {
        "name": "jaeger",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "env": [{"name": "JAEGER_LISTEN_HOST", "value": "0.0.0.0"}],  # default is localhost only
        "ports": [{"name": "otlp-grpc", "containerPort": OTLP_GRPC_PORT}, {"name": "otlp-http", "containerPort": OTLP_HTTP_PORT},
                  {"name": "query", "containerPort": JAEGER_QUERY_SERVICE_PORT}],
        "readinessProbe": {"tcpSocket": {"port": JAEGER_QUERY_SERVICE_PORT}, "periodSeconds": 2},
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "1Gi"}},
    }
    return [
        _deployment("jaeger", MONITORING_NAMESPACE, {"containers": [container]}),
        _service(JAEGER_SERVICE, MONITORING_NAMESPACE, "jaeger",
                 [*collector_ports(), service_port("query", JAEGER_QUERY_SERVICE_PORT)]),
        _service("jaeger-query-host", MONITORING_NAMESPACE, "jaeger", jaeger_query_host_ports(), node_port=True),
    ]


def trace_destination(namespace: str = MONITORING_NAMESPACE) -> TraceDestination:
    """Where a collector in the cluster exports: the run's Jaeger Service, in `namespace` ("": the
    collector's own, by its short name)."""
    host = f"{JAEGER_SERVICE}.{namespace}.svc.cluster.local" if namespace else JAEGER_SERVICE
    return TraceDestination(f"{host}:{OTLP_GRPC_PORT}", f"http://{host}:{OTLP_HTTP_PORT}", "the cluster's Jaeger")


def collector_config_for_cluster(config: CollectorConfig, config_text: str,
                                 to: TraceDestination | None = None) -> tuple[str, tuple[str, ...]]:
    """The config the collector pod runs, made as the local platform makes it (collector_adapt.py):
    its receiver on the Service's ports, backend exporters to this run's Jaeger (`to`, by default
    the harness's in `monitoring`), nothing else moved. The text as given when nothing had to move
    (the repo's config), else the adapted config under a header that says what changed."""
    adapted = adapt_for_cluster(config, to or trace_destination(), OTLP_GRPC_PORT, OTLP_HTTP_PORT)
    if adapted.config.body == config.body:
        return config_text, ()
    header = "".join(f"# run as written, except: {note}\n" for note in adapted.notes)
    return f"# {config.source}, adapted by llmd-trace-e2e\n{header}{adapted.config.to_yaml()}", adapted.notes


def collector(image: str, config_text: str, config: CollectorConfig) -> list[dict[str, Any]]:
    """The collector config (collector_config_for_cluster) in a ConfigMap; a Deployment runs it;
    the Service carries the name the tracing guide's default endpoint uses."""
    config_text, _ = collector_config_for_cluster(config, config_text)
    checksum = hashlib.sha256(config_text.encode()).hexdigest()[:16]
    container = {
        "name": "otelcol",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": [f"--config=/conf/{COLLECTOR_CONFIG_KEY}"],
        "ports": [{"name": "otlp-grpc", "containerPort": OTLP_GRPC_PORT}, {"name": "otlp-http", "containerPort": OTLP_HTTP_PORT}],
        "readinessProbe": {"tcpSocket": {"port": OTLP_GRPC_PORT}, "periodSeconds": 2},
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "1Gi"}},
        "volumeMounts": [{"name": "config", "mountPath": "/conf", "readOnly": True}],
    }
    pod = {"containers": [container],
           "volumes": [{"name": "config", "configMap": {"name": f"{COLLECTOR_NAME}-config"}}]}
    return [
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": f"{COLLECTOR_NAME}-config", "namespace": MONITORING_NAMESPACE},
         "data": {COLLECTOR_CONFIG_KEY: config_text}},
        # the checksum rolls the pod when the config changes on a reused cluster
        _deployment(COLLECTOR_NAME, MONITORING_NAMESPACE, pod, {"llmd-trace-e2e.llm-d.ai/config-sha": checksum}),
        _service(COLLECTOR_NAME, MONITORING_NAMESPACE, COLLECTOR_NAME, collector_ports()),
        _service(f"{COLLECTOR_NAME}-host", MONITORING_NAMESPACE, COLLECTOR_NAME, collector_ports(host=True),
                 node_port=True),
    ]


def gateway(tracing: GatewayTracing | None = None) -> list[dict[str, Any]]:
    """An Istio Gateway (ClusterIP: kind has no load balancer), a NodePort to reach it from the
    host, and in traced mode the Telemetry resource that makes it trace."""
    return [
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
         "metadata": {"name": GATEWAY_NAME, "namespace": NAMESPACE,
                      "annotations": {"networking.istio.io/service-type": "ClusterIP"}},
         "spec": {"gatewayClassName": "istio",
                  "listeners": [{"name": "http", "port": GATEWAY_SERVICE_PORT, "protocol": "HTTP",
                                 "allowedRoutes": {"namespaces": {"from": "Same"}}}]}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": f"{GATEWAY_NAME}-host", "namespace": NAMESPACE},
         "spec": {"type": "NodePort",
                  "selector": {"gateway.networking.k8s.io/gateway-name": GATEWAY_NAME},
                  "ports": [service_port("http", GATEWAY_SERVICE_PORT, GATEWAY_PORT)]}},
    ] + gateway_telemetry(tracing or GatewayTracing())


def httproute(pool: str) -> list[dict[str, Any]]:
    return [{
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": HTTPROUTE_NAME, "namespace": NAMESPACE},
        "spec": {
            "parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": GATEWAY_NAME}],
            "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                       "backendRefs": [{"group": "inference.networking.k8s.io", "kind": "InferencePool",
                                        "name": pool}],
                       "timeouts": {"request": "300s"}}],
        },
    }]


def tiny_model_script(script_text: str) -> list[dict[str, Any]]:
    """scripts/make_tiny_model.py, for the vLLM pods' init container."""
    return [{"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": TINY_MODEL_CONFIGMAP, "namespace": NAMESPACE},
             "data": {"make_tiny_model.py": script_text}}]


TRACING_PROVIDER = "otel-tracing"


def istiod_values(tracing: GatewayTracing | None = None, collector_host: str = "") -> dict[str, Any]:
    """istiod with the inference extension on; in traced mode (gateway.tracing.enabled), an
    OpenTelemetry extension provider pointing at the run's collector."""
    mesh: dict[str, Any] = {"defaultConfig": {"proxyMetadata": {"ENABLE_GATEWAY_API_INFERENCE_EXTENSION": "true"}}}
    if tracing and tracing.enabled:
        mesh["extensionProviders"] = [{"name": TRACING_PROVIDER, "opentelemetry": {
            "service": collector_host or f"{COLLECTOR_NAME}.{MONITORING_NAMESPACE}.svc.cluster.local", "port": OTLP_GRPC_PORT}}]
    return {
        "pilot": {"env": {"ENABLE_GATEWAY_API_INFERENCE_EXTENSION": "true"},
                  "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}}},
        "meshConfig": mesh,
    }


def gateway_telemetry(tracing: GatewayTracing) -> list[dict[str, Any]]:
    """The Telemetry resource that turns the gateway's tracing on (none in transparent mode)."""
    if not tracing.enabled:
        return []
    return [{"apiVersion": "telemetry.istio.io/v1", "kind": "Telemetry",
             "metadata": {"name": "gateway-tracing", "namespace": NAMESPACE},
             "spec": {"selector": {"matchLabels": {"gateway.networking.k8s.io/gateway-name": GATEWAY_NAME}},
                      "tracing": [{"providers": [{"name": TRACING_PROVIDER}],
                                   "randomSamplingPercentage": tracing.sampling_percent}]}}]


def device_plugin_values() -> dict[str, Any]:
    """Scheduled by the harness's own node label: the chart's default affinity wants labels from
    node-feature-discovery, which a kind node lacks."""
    from llmd_trace_e2e.platforms.kind.options import GPU_NODE_LABEL

    return {"affinity": None, "nodeSelector": {GPU_NODE_LABEL: "true"}}
