"""The trace backends the harness can query, by name: how to build each one's `TraceQuery` client
from its query URL. The platforms build `platform.traces` here; a second backend is one more entry
(and its client module)."""
from __future__ import annotations

from typing import Callable

from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.traces.jaeger import JaegerClient
from llmd_trace_e2e.traces.query import TraceQuery

BACKENDS: dict[str, Callable[[str], TraceQuery]] = {"jaeger": JaegerClient}
DEFAULT_BACKEND = "jaeger"


def query_client(url: str, backend: str = DEFAULT_BACKEND) -> TraceQuery:
    """The query client of the trace backend `backend` answering at `url`."""
    try:
        build = BACKENDS[backend]
    except KeyError:
        raise ConfigError(f"no trace backend named {backend!r}: use one of {', '.join(sorted(BACKENDS))} "
                          "(traces/backends.py)") from None
    return build(url)
