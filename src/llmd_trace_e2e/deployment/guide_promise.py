"""What the tracing guide promises a pod for a run's values: the env names and vLLM args it lists
(shared/seed/tracing-guide.md, "Environment Variables Injected", "Custom Commands", "Overriding
Per-Component", the gateway block), filled with the values the run set or the guide's stated
defaults. The kind pod checks hold pods against this, not against the harness's chart emulation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Protocol, Sequence

from llmd_trace_e2e.deployment.profiles import Profile
from llmd_trace_e2e.deployment.values import COLLECTOR_ENDPOINT as GUIDE_COLLECTOR  # the guide's stated default
from llmd_trace_e2e.deployment.values import lookup

VLLM_ENV = ("OTEL_SERVICE_NAME", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_EXPORTER", "OTEL_TRACES_SAMPLER",
            "OTEL_TRACES_SAMPLER_ARG")
VLLM_ARGS = ("--otlp-traces-endpoint", "--collect-detailed-traces")


class PodContainer(Protocol):
    pod: str
    container: str
    args: tuple[str, ...]
    env: dict[str, str]

    def has_args(self, expected: Sequence[str]) -> bool: ...


@dataclass(frozen=True)
class Promise:
    what: str
    env: Mapping[str, str]  # name -> the value promised
    args: tuple[tuple[str, ...], ...] = ()  # groups that appear adjacent (a flag, then its value)
    no_env: tuple[str, ...] = ()  # names promised absent
    no_args: tuple[str, ...] = ()  # flags promised absent

    def broken_by(self, c: PodContainer) -> list[str]:
        """Each way the container breaks the promise, as a line a person can act on (empty: kept)."""
        where = f"{c.pod}/{c.container}"
        out = [f"{where}: {name}={c.env.get(name)!r}, the guide promises {want!r}"
               for name, want in self.env.items() if c.env.get(name) != want]
        out += [f"{where}: args {list(c.args)} lack {' '.join(group)}" for group in self.args if not c.has_args(group)]
        out += [f"{where}: carries {name}={c.env[name]!r}, the guide promises none" for name in self.no_env if name in c.env]
        out += [f"{where}: carries {arg}, the guide promises none" for arg in c.args
                for flag in self.no_args if arg == flag or arg.startswith(flag + "=")]
        return out


def _block(values: Mapping[str, Any], profile: Profile, chart: str) -> Mapping[str, Any]:
    return lookup(values, profile.values_schema[chart].path, {}) or {}


def vllm_promise(values: Mapping[str, Any], profile: Profile, role: str = "decode") -> Promise:
    block = _block(values, profile, "modelservice")
    what = f"vLLM {role} for {profile.values_schema['modelservice'].path}.*"
    if not block.get("enabled"):
        return Promise(f"{what} with tracing off", {}, no_env=VLLM_ENV, no_args=VLLM_ARGS)
    container = (lookup(values, f"{role}.containers", [{}]) or [{}])[0]
    if container.get("modelCommand") == "custom":  # "tracing args are not injected automatically"
        return Promise(f"{what}, modelCommand custom", {}, no_args=VLLM_ARGS)
    endpoint = str(block.get("otlpEndpoint", GUIDE_COLLECTOR))
    name = lookup(block, f"serviceNames.{'vllmDecode' if role == 'decode' else 'vllmPrefill'}", f"vllm-{role}")
    own = {e.get("name"): e.get("value") for e in container.get("env") or [] if isinstance(e, Mapping)}
    env = {"OTEL_SERVICE_NAME": str(own.get("OTEL_SERVICE_NAME", name)),  # "Overriding Per-Component"
           "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_TRACES_EXPORTER": "otlp",
           "OTEL_TRACES_SAMPLER": str(lookup(block, "sampling.sampler", "parentbased_traceidratio")),
           "OTEL_TRACES_SAMPLER_ARG": str(lookup(block, "sampling.samplerArg", "1.0"))}
    detail = str(lookup(block, "vllm.collectDetailedTraces", "all"))
    if profile.values_schema["modelservice"].kind == "kustomize":  # llm-d's component: one arg each, $(VAR)
        return Promise(f"{what} (llm-d's kustomize tracing component)", env,
                       (("--otlp-traces-endpoint=$(OTEL_EXPORTER_OTLP_ENDPOINT)",),
                        (f"--collect-detailed-traces={detail}",)))
    return Promise(what, env, (("--otlp-traces-endpoint", endpoint), ("--collect-detailed-traces", detail)))


def custom_command_env_promise() -> Promise:
    """The guide's Custom Commands section has the user add the OTEL_* env by hand: none injected."""
    return Promise("vLLM with modelCommand custom", {}, no_env=VLLM_ENV)


def epp_promise(values: Mapping[str, Any], profile: Profile) -> Promise:
    """The gateway block: "Edit this value to point to your collector", with its sampling."""
    block = _block(values, profile, "epp")
    what = f"EPP for {profile.values_schema['epp'].path}.*"
    if not block.get("enabled"):
        return Promise(f"{what} with tracing off", {}, no_env=("OTEL_EXPORTER_OTLP_ENDPOINT",))
    return Promise(what, {"OTEL_EXPORTER_OTLP_ENDPOINT": str(block.get("otelExporterEndpoint", GUIDE_COLLECTOR)),
                          "OTEL_TRACES_EXPORTER": "otlp",
                          "OTEL_TRACES_SAMPLER": str(lookup(block, "sampling.sampler", "parentbased_traceidratio")),
                          "OTEL_TRACES_SAMPLER_ARG": str(lookup(block, "sampling.samplerArg", "1.0"))},
                   (("--tracing=true",),))  # the flag the EPP binary needs before "enabled" means anything
