"""The kind platform's ports, each named once.

In the cluster, the collector and Jaeger listen on OTLP's and Jaeger's own ports; the host reaches
them and the gateway through NodePorts that clusters/kind-*.yaml map to 127.0.0.1 (the mapping is
checked against these by tests/unit/kind/test_plan.py)."""
from __future__ import annotations

from typing import Any

# In the cluster
OTLP_GRPC_PORT = 4317
OTLP_HTTP_PORT = 4318
JAEGER_QUERY_SERVICE_PORT = 16686  # Jaeger's query API (and UI)
GATEWAY_SERVICE_PORT = 80

# Host ports (127.0.0.1 only) = NodePorts
GATEWAY_PORT = 30080
JAEGER_QUERY_PORT = 30686
COLLECTOR_GRPC_PORT = 30317
COLLECTOR_HTTP_PORT = 30318
HOST_PORTS = (GATEWAY_PORT, JAEGER_QUERY_PORT, COLLECTOR_GRPC_PORT, COLLECTOR_HTTP_PORT)


def service_port(name: str, port: int, node_port: int | None = None) -> dict[str, Any]:
    """A Service port that forwards to the same container port; a NodePort when `node_port` is given."""
    out: dict[str, Any] = {"name": name, "port": port, "targetPort": port}
    return {**out, "nodePort": node_port} if node_port else out


def collector_ports(host: bool = False) -> list[dict[str, Any]]:
    """The collector's OTLP ports, in the cluster or (host=True) on their NodePorts."""
    return [service_port("otlp-grpc", OTLP_GRPC_PORT, COLLECTOR_GRPC_PORT if host else None),
            service_port("otlp-http", OTLP_HTTP_PORT, COLLECTOR_HTTP_PORT if host else None)]


def jaeger_query_host_ports() -> list[dict[str, Any]]:
    return [service_port("query", JAEGER_QUERY_SERVICE_PORT, JAEGER_QUERY_PORT)]
