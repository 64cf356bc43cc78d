"""Phase `polling`: the harness's own overhead. Barrier-style waits (a canary through the
collector, awaited in Jaeger) as the suite does them, against an independent 50 ms probe of the
same condition: the lag is the time waited after the condition held."""
from __future__ import annotations

import time

from llmd_trace_e2e.runtime.waits import Pending, WaitStats, wait_for
from llmd_trace_e2e.commands.bench.probe import FirstTrue
from llmd_trace_e2e.commands.bench.results import BarrierRun, PollingPhase
from llmd_trace_e2e.commands.bench.stats import describe

TIGHT_INTERVAL_S = 0.25  # the alternative backoff cap the polling phase also measures


def polling_overhead(platform, runs: int = 8, max_interval_s: float = 1.0) -> PollingPhase:
    """`runs` barrier waits with the harness's wait_for (backoff capped at `max_interval_s`)."""
    from llmd_trace_e2e.traffic.canaries import Canary, send_canaries

    rows, own = [], platform.traces.another_client()  # the probe's own connection
    for i in range(runs):
        ended = time.time()  # the canary span ends at once: both clocks start here
        [one] = send_canaries(platform.collector_otlp_grpc, [Canary("barrier", f"bench barrier {i}", {}, False)])
        oracle = FirstTrue(lambda: bool(own.trace_spans(one.trace_id)))
        oracle.start()
        stats = WaitStats()
        wait_for(f"canary {one.trace_id} in Jaeger",
                 lambda: bool(platform.traces.trace_spans(one.trace_id)) or Pending("not yet"), 30.0, stats=stats,
                 max_interval_s=max_interval_s)
        seen = time.time()
        held = oracle.stop() or seen  # not seen by the probe yet: the wait saw it first, no lag
        rows.append(BarrierRun(waited_s=seen - ended, in_wait_for_s=stats.seconds, polls=stats.polls,
                               needed_s=min(held, seen) - ended, lag_s=max(0.0, seen - held)))
        time.sleep(0.3)
    return PollingPhase(rows, waited=describe([r.waited_s for r in rows]), needed=describe([r.needed_s for r in rows]),
                        lag=describe([r.lag_s for r in rows]), polls=describe([float(r.polls) for r in rows]))
