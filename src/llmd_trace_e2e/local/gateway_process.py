"""The gateway stand-in (gateway.py) as one of the stack's processes."""
from __future__ import annotations

import sys
from dataclasses import dataclass

from ..ports import is_listening
from ..procs import ManagedProcess, ProcessSpec, Supervisor
from ..waits import Pending


@dataclass
class GatewayProcess:
    proc: ManagedProcess
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout_s: float) -> None:
        self.proc.wait_ready("port listens", lambda: is_listening(self.port) or Pending("port closed"), timeout_s)


def start_gateway(supervisor: Supervisor, port: int, epp_address: str, request_timeout_s: float = 120.0) -> GatewayProcess:
    argv = [sys.executable, "-m", "llmd_trace_e2e.local.gateway", "--port", port, "--epp-address", epp_address,
            "--request-timeout", request_timeout_s]
    return GatewayProcess(supervisor.start(ProcessSpec("gateway", argv)), port)
