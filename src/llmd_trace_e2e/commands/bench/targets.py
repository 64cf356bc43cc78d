"""Which of the issue's targets hold on this machine, judged from the typed results."""
from __future__ import annotations

from llmd_trace_e2e.commands.bench.polling import TIGHT_INTERVAL_S
from llmd_trace_e2e.commands.bench.results import BenchResult, MedianRun, Target

VERDICT_FRESH_S = 90.0  # make e2e-local, tools built and model generated, vLLM start included
VERDICT_RUNNING_S = 10.0  # a re-run against a running stack
VISIBILITY_P95_S = 2.5  # with the guide's 1 s collector batch timeout
POLLING_SHARE = 0.10  # polling overhead / verdict time
FRESH_VERDICT_S = 40.0  # issue 14: make e2e-local -m "not variant", warm caches, 2 cores
MAKE_TEST_S = 360.0  # issue 14: warm make test

VISIBILITY_OF = (("epp_gateway_request", "EPP"), ("vllm_llm_request", "vLLM"),
                 ("collector_only_canary", "collector only"))


def _row(name: str, value: float | None, limit: float, share: bool = False) -> Target:
    if value is None:
        return Target(name, "not measured", "?")
    shown = f"{value:.1%}" if share else f"{value:.1f} s"
    return Target(name, shown, "yes" if value <= limit else "**no**")


def _share(part: float | None, whole: float) -> float | None:
    return (part or 0) / whole if whole else None


def speed_targets(result: BenchResult) -> list[Target]:
    sp = result.speed
    if sp is None:
        return []
    fresh = max((r.wall_s for r in sp.fresh), default=None)
    return [_row(f"fresh local verdict within {FRESH_VERDICT_S:g} s (slowest of {len(sp.fresh)})", fresh,
                 FRESH_VERDICT_S),
            _row(f"whole make test within {MAKE_TEST_S:g} s", sp.make_test.wall_s if sp.make_test else None,
                 MAKE_TEST_S)]


def targets(result: BenchResult) -> list[Target]:
    v, lat, pol = result.verdict, result.latency, result.polling
    if v is None and result.speed is not None:
        return speed_targets(result)
    rows = [_row(f"verdict within {VERDICT_FRESH_S:g} s of a fresh start (tools built, model generated)",
                 v.fresh_total_s if v else None, VERDICT_FRESH_S),
            _row(f"verdict within {VERDICT_RUNNING_S:g} s against a running stack",
                 v.running_total_s if v else None, VERDICT_RUNNING_S)]
    if lat:
        rows += [_row(f"span visibility p95 within {VISIBILITY_P95_S:g} s ({what})", getattr(lat, key).p95,
                      VISIBILITY_P95_S) for key, what in VISIBILITY_OF]
    within = f"under {POLLING_SHARE:.0%} of the verdict time"
    fresh = _share(sum(r.polling_lag_s or 0 for r in v.runs[:1]), v.fresh_total_s) if v and pol else None
    rows.append(_row(f"harness polling overhead {within} (fresh)", fresh, POLLING_SHARE, share=True))
    if v and pol:
        rows.append(_row(f"harness polling overhead {within} (running stack)",
                         _share(v.warm_median.polling_lag_s, v.running_total_s), POLLING_SHARE, share=True))
        tight = result.polling_tight.verdicts if result.polling_tight else None
        if tight:
            m = MedianRun.of(tight)
            rows.append(_row(f"... the same with the wait backoff capped at {TIGHT_INTERVAL_S} s (running stack)",
                             _share(m.polling_lag_s, m.running_total_s(v.pytest_start_s)), POLLING_SHARE, share=True))
    return rows + speed_targets(result)
