"""Settings that leave the suite nothing to check, read from the charts' render of the values in
effect, before anything starts:

- a sampler that never samples what the suite sends: `always_off` or a ratio sampler at 0 on any
  component, or a root ratio of 0 on the EPP (the suite's requests start their traces there: those
  sent without a traceparent, and every one where the EPP ignores the caller's);
- tracing off in every component;
- an EPP whose exporter is not OTLP (GAIE's EPP exports to the console when OTEL_TRACES_EXPORTER is
  unset). vLLM's request spans go to `--otlp-traces-endpoint` whatever that variable says.

Each finding is one line naming the setting (the values key, or the container env that set it)
and the fix. A variant that needs such a setting on purpose (the sampler-0 variant) says so with
`on_purpose` and is let through.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.deployment.chart_emulation import epp_user_env_path
from llmd_trace_e2e.deployment.charts import Launch, epp_launch, vllm_launch
from llmd_trace_e2e.deployment.profiles import Profile
from llmd_trace_e2e.deployment.sampling import root_ratio
from llmd_trace_e2e.deployment.values import lookup

NAMES = {"epp": "the EPP", "vllm-decode": "vLLM (decode)"}
CHART_OF = {"epp": "epp", "vllm-decode": "modelservice"}
# Components at which the suite's requests start their traces: their root ratio is what samples.
ROOT_DECIDERS = ("epp",)
# Components whose OTEL_TRACES_EXPORTER picks their exporter (vLLM's llm_request ignores it).
EXPORTER_FROM_ENV = ("epp",)
EXPORTER_DEFAULT = {"epp": "console"}  # GAIE's EPP when OTEL_TRACES_EXPORTER is unset
FULL_RATIO = '"1.0"'


class Untraceable(ConfigError):
    pass


@dataclass(frozen=True)
class Blocker:
    component: str
    setting: str  # what is set, and where
    fix: str

    def line(self) -> str:
        return f"{self.setting}; {self.fix}"


def launches(values: Mapping[str, Any], profile: Profile) -> dict[str, Launch]:
    """The traced containers the run must see, as the profile's charts render them for these values."""
    out = {}
    if profile.runs("epp"):
        out["epp"] = epp_launch(values, profile)
    if profile.runs("vllm-decode"):
        out["vllm-decode"] = vllm_launch(values, profile, "decode")
    return out


def _epp_user_env(values: Mapping[str, Any], profile: Profile) -> tuple[str, dict[str, str]]:
    """The EPP container's own env in the values (its chart renders it after the OTEL_* env: it wins)."""
    path = epp_user_env_path(profile.charts["epp"].chart) if "epp" in profile.charts else "inferenceExtension.env"
    entries = lookup(values, path) or []
    return path, {str(e["name"]): str(e.get("value", "")) for e in entries if isinstance(e, Mapping) and "name" in e}


def origin(values: Mapping[str, Any], profile: Profile, component: str, key: str, env: str, value: str) -> str:
    """Where a rendered env value came from: the EPP's own env, the values' tracing key, or the chart.
    (vLLM's own env never wins: llm-d-modelservice renders its OTEL_* env after it.)"""
    if component == "epp":
        env_path, user_env = _epp_user_env(values, profile)
        if user_env.get(env) == value:
            return f"{env}={value} in {env_path}"
    path = f"{profile.values_schema[CHART_OF[component]].path}.{key}"
    if key and lookup(values, path) is not None:
        return f"{path}: {lookup(values, path)!r}"
    return f"the chart's default {env}={value}"


def _sampler(values, profile, component: str, launch: Launch) -> Blocker | None:
    env = launch.env
    sampler = env.get("OTEL_TRACES_SAMPLER", "parentbased_always_on")
    where = profile.values_schema[CHART_OF[component]].path
    try:
        ratio = root_ratio(env)
    except ValueError as err:
        return Blocker(component, f"{NAMES[component]}'s sampler cannot be read ({err})",
                       f"set {where}.sampling.sampler to parentbased_traceidratio")
    parent_based = sampler.startswith("parentbased_")
    if ratio > 0.0 or (parent_based and component not in ROOT_DECIDERS):
        return None
    if "traceidratio" in sampler:
        arg = env.get("OTEL_TRACES_SAMPLER_ARG", "")
        set_by = origin(values, profile, component, "sampling.samplerArg", "OTEL_TRACES_SAMPLER_ARG", arg)
        fix = f"give {where}.sampling.samplerArg a ratio above 0 (the suite runs at {FULL_RATIO})"
    else:
        set_by = origin(values, profile, component, "sampling.sampler", "OTEL_TRACES_SAMPLER", sampler)
        fix = f"set {where}.sampling.sampler to parentbased_traceidratio with samplerArg {FULL_RATIO}"
    if parent_based:
        what = (f"{NAMES[component]} samples no root trace at sampler ratio {ratio:g} ({set_by}), and the "
                "suite's requests start their traces at the EPP, so none of them would be traced")
    else:
        what = f"{NAMES[component]} samples nothing (OTEL_TRACES_SAMPLER={sampler}, ratio {ratio:g}, from {set_by})"
    return Blocker(component, what, fix)


def _exporter(values, profile, component: str, launch: Launch) -> Blocker | None:
    if component not in EXPORTER_FROM_ENV:
        return None
    exporter = launch.env.get("OTEL_TRACES_EXPORTER", EXPORTER_DEFAULT.get(component, "otlp"))
    if "otlp" in [e.strip() for e in exporter.split(",")]:
        return None
    set_by = origin(values, profile, component, "", "OTEL_TRACES_EXPORTER", exporter) \
        if "OTEL_TRACES_EXPORTER" in launch.env else "OTEL_TRACES_EXPORTER unset"
    return Blocker(component, f"{NAMES[component]} exports its spans to {exporter!r}, not OTLP ({set_by}), so none "
                              "reach the collector the suite reads",
                   "set OTEL_TRACES_EXPORTER=otlp (the charts render it; drop the override)")


def blockers(values: Mapping[str, Any], profile: Profile) -> list[Blocker]:
    """What in these values leaves the suite unable to check anything (empty: nothing)."""
    found: list[Blocker] = []
    rendered = launches(values, profile)
    on = {c: launch for c, launch in rendered.items() if launch.tracing}
    if rendered and not on:
        keys = [f"{profile.values_schema[CHART_OF[c]].path}.enabled" for c in rendered]
        found.append(Blocker("all", f"tracing is off in every component ({', '.join(keys)}), so no span would be "
                                    "exported", f"set {' and '.join(keys)} to true"))
    for component, launch in on.items():
        found += [b for b in (_sampler(values, profile, component, launch),
                              _exporter(values, profile, component, launch)) if b is not None]
    return found


def check_traceable(values: Mapping[str, Any], profile: Profile, on_purpose: str = "") -> list[Blocker]:
    """Refuse (Untraceable, one line) values the suite can check nothing with; `on_purpose` (why a
    variant needs them) lets them through. Returns what was found."""
    found = blockers(values, profile)
    if found and not on_purpose:
        raise Untraceable("these values leave the suite nothing to check: "
                          + " | ".join(b.line() for b in found)
                          + " (the e2e variants that need such a setting set it themselves)")
    return found
