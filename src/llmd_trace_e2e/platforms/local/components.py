"""Which binary runs each of a local profile's components: one brought with `--component`
(asked what it is: binaries.py), else the one `make tools` built (versions.toml pins it), else
none. Without an EPP the run is refused in one line; without a routing proxy it runs without
one, and the proxy's tests skip saying so and naming `--component`.

The profile follows the EPP: GAIE's runs with `local` (GAIE's inferencepool chart renders its
flags and env), llm-d-router's with `local-kustomize-guide` (the llm-d Router chart's). A binary
that does not take a flag its profile's render gives it is refused, naming the flag and the
profile that fits.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Mapping

from llmd_trace_e2e.platforms.local.binaries import ProbedBinary, missing_flags, probe
from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.runtime.paths import bin_dir
from llmd_trace_e2e.deployment.components import ComponentBinary
from llmd_trace_e2e.deployment.profiles import Profile, load_profile, load_versions, profile_names

GAIE_MODULE = "sigs.k8s.io/gateway-api-inference-extension"
DEFAULT_PROFILE = "local"
ROUTER_PROFILE = "local-kustomize-guide"  # what an llm-d-router binary runs with
WHAT = {"epp": "the EPP", "routing-proxy": "the routing proxy"}


@dataclass(frozen=True)
class RunBinary:
    role: str
    path: Path
    version: str | None  # None: unknown (version-gated checks then run as plain checks)
    source: str  # "--component" or "make tools"
    probed: ProbedBinary | None = None  # what the binary said of itself (--component only)

    def describe(self) -> str:
        return f"{self.path} ({self.source}, version {self.version or 'unknown'})"


@dataclass(frozen=True)
class LocalBinaries:
    epp: RunBinary
    proxy: RunBinary | None = None
    proxy_absent: str = ""  # why no routing proxy runs
    epp_missing: str = ""  # why the profile's EPP is not here (the run is refused by require())

    def require(self) -> None:
        if self.epp_missing:
            raise ConfigError(self.epp_missing)

    def brought(self) -> list[str]:
        """The components whose binary came with --component."""
        return [b.role for b in (self.epp, self.proxy) if b is not None and b.probed is not None]

    def versions(self) -> dict[str, str | None]:
        """Component -> version (None: unknown), for checks gated by release."""
        return {b.role: b.version for b in (self.epp, self.proxy) if b is not None}

    def applied_to(self, profile: Profile) -> Profile:
        """The profile as this run has it: the proxy absent or not, what runs as each component."""
        absent = {k: v for k, v in profile.absent.items() if k != "routing-proxy"}
        if self.proxy is None:
            absent["routing-proxy"] = self.proxy_absent
        shown = dict(profile.versions)
        shown.update({b.role: b.describe() for b in (self.epp, self.proxy) if b is not None})
        if self.proxy is None:
            shown.pop("routing-proxy", None)
        run_profile = replace(profile, absent=absent, versions=shown)
        for b in (self.epp, self.proxy):
            if b is not None and b.probed is not None:  # a brought binary: its own release decides its gaps
                run_profile = run_profile.with_part(b.role, project_of(b.probed), b.version, b.probed.describe())
        return run_profile


def project_of(probed: ProbedBinary) -> str:
    """Whose releases a brought binary is: GAIE's EPP says so in its build info; any other is llm-d-router's."""
    return "gaie" if probed.module == GAIE_MODULE else "llm-d-router"


def probe_components(components: Mapping[str, ComponentBinary]) -> dict[str, ProbedBinary]:
    return {role: probe(binary) for role, binary in components.items()}


def choose_profile(requested: str | None, probed: Mapping[str, ProbedBinary]) -> str:
    """--profile when given; else the profile of the brought EPP (GAIE's: local; any other: the
    router's), else local."""
    if requested:
        return requested
    epp = probed.get("epp")
    if epp is None:
        return DEFAULT_PROFILE
    return DEFAULT_PROFILE if epp.module == GAIE_MODULE else ROUTER_PROFILE


def unavailable_reason(tool_name: str) -> str:
    marker = bin_dir() / f"{tool_name}.unavailable"
    try:
        return marker.read_text().strip()
    except OSError:
        return f"{tool_name} is not built: run `make tools`"


def _made(role: str, tool_name: str) -> RunBinary | None:
    path = bin_dir() / tool_name
    if not os.access(path, os.X_OK):
        return None
    version = str(((load_versions().get("go_tools") or {}).get(tool_name) or {}).get("version") or "") or None
    return RunBinary(role, path, version, "make tools")


def resolve_binaries(profile: Profile, probed: Mapping[str, ProbedBinary]) -> LocalBinaries:
    found: dict[str, RunBinary | None] = {}
    for role in ("epp", "routing-proxy"):
        if role in probed:
            p = probed[role]
            found[role] = RunBinary(role, p.path, p.version, "--component", p)
        elif role in profile.binaries:
            found[role] = _made(role, profile.binaries[role])
        else:
            found[role] = None
    missing = ""
    if found["epp"] is None:
        tool_name = profile.binaries.get("epp", "epp")
        found["epp"] = RunBinary("epp", bin_dir() / tool_name, None, "make tools")
        missing = (f"profile {profile.name} runs {WHAT['epp']} {tool_name}, which is not here "
                   f"({unavailable_reason(tool_name)}): pass --component epp=PATH")
    absent = ""
    if found["routing-proxy"] is None and "routing-proxy" in profile.binaries:
        absent = (f"no routing proxy binary ({unavailable_reason(profile.binaries['routing-proxy'])}); "
                  "bring one with --component routing-proxy=PATH")
    elif found["routing-proxy"] is None:
        absent = f"profile {profile.name} runs one only with --component routing-proxy=PATH"
    return LocalBinaries(found["epp"], found["routing-proxy"], absent, missing)


def refuse_unfit(profile: Profile, binaries: LocalBinaries, argv_for: Callable[[Profile, str, bool], list[str]]) -> None:
    """A brought binary must take every flag its profile's launch gives it. `argv_for(profile,
    role, run_values)` is that launch's argv (the run's values for the run's profile, the
    baseline for the others)."""
    for binary in (binaries.epp, binaries.proxy):
        if binary is None or binary.probed is None:
            continue
        missing = missing_flags(binary.probed, argv_for(profile, binary.role, True))
        if not missing:
            continue
        fits = [name for name in local_profiles() if name != profile.name
                and not missing_flags(binary.probed, argv_for(load_profile(name), binary.role, False))]
        hint = f"run it with --profile {fits[0]}" if fits else "no local profile's render fits it"
        raise ConfigError(f"--component {binary.role}={binary.path} does not take --{missing[0]}, which profile "
                          f"{profile.name} gives {WHAT[binary.role]}"
                          f"{f' (and {len(missing) - 1} more of its flags)' if len(missing) > 1 else ''}: {hint}")


def local_profiles() -> list[str]:
    names = []
    for name in profile_names():
        try:
            if load_profile(name).platform == "local":
                names.append(name)
        except ConfigError:
            continue
    return names
