"""The harness's own values for the gateway, `gateway.tracing.*`: whether the gateway traces,
as an Istio gateway does once meshConfig names an OpenTelemetry provider and a Telemetry
resource turns it on. Off by default, as llm-d's guides run Istio today."""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Mapping

from llmd_trace_e2e.runtime.errors import ConfigError

PATH = "gateway.tracing"
# What Istio names a gateway's service: <gateway>-istio.<namespace> (the kind platform's Gateway
# and namespace), so both platforms expect the same service.
DEFAULT_SERVICE = "llm-d-inference-gateway-istio.llm-d"
KEYS = {"enabled": bool, "serviceName": str, "randomSamplingPercentage": (int, float)}


@dataclass(frozen=True)
class GatewayTracing:
    enabled: bool = False
    service_name: str = DEFAULT_SERVICE
    sampling_percent: float = 100.0

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> "GatewayTracing":
        block = (values.get("gateway") or {}).get("tracing") if isinstance(values.get("gateway"), Mapping) else None
        if block is None:
            return cls()
        if not isinstance(block, Mapping):
            raise ConfigError(f"{PATH} must be a mapping, not {type(block).__name__}")
        for key, value in block.items():
            if key not in KEYS:
                guess = difflib.get_close_matches(key, KEYS, n=1, cutoff=0.6)
                hint = f"did you mean {PATH}.{guess[0]}?" if guess else f"known keys: {', '.join(KEYS)}"
                raise ConfigError(f"unknown gateway key {PATH}.{key}; {hint}")
            if not isinstance(value, KEYS[key]) or (key != "enabled" and isinstance(value, bool)):
                raise ConfigError(f"{PATH}.{key} must be {_kind(KEYS[key])}, not {value!r}")
        percent = float(block.get("randomSamplingPercentage", 100.0))
        if not 0.0 <= percent <= 100.0:
            raise ConfigError(f"{PATH}.randomSamplingPercentage must be between 0 and 100, not {percent:g}")
        return cls(bool(block.get("enabled", False)), str(block.get("serviceName", DEFAULT_SERVICE)), percent)

    @property
    def service(self) -> str | None:
        """The service.name the gateway's spans carry, None when it does not trace."""
        return self.service_name if self.enabled else None


def _kind(types) -> str:
    return {bool: "true or false", str: "a string"}.get(types, "a number")
