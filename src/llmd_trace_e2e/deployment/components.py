"""`--component ROLE=PATH[@VERSION]`: a binary the user brings for one of the local platform's
components (the EPP, the routing proxy), read into data. Pure: probing the binary is
platforms/local/binaries.py's job.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from llmd_trace_e2e.runtime.errors import ConfigError

ROLES = ("epp", "routing-proxy")
_VERSION = re.compile(r"v?\d+(\.\d+){0,2}([-+][0-9A-Za-z.-]+)?")


@dataclass(frozen=True)
class ComponentBinary:
    role: str
    path: Path
    version: str | None = None  # from @VERSION; the binary's own version output is read later

    def absolute(self) -> "ComponentBinary":
        return ComponentBinary(self.role, self.path.absolute(), self.version)

    def spec(self) -> str:
        """Back to the option's spelling (the stack's server gets the same option)."""
        return f"{self.role}={self.path}" + (f"@{self.version}" if self.version else "")


def parse_component(text: str) -> ComponentBinary:
    """One `ROLE=PATH[@VERSION]`; ConfigError in one line naming the fix."""
    role, sep, rest = text.partition("=")
    role = role.strip()
    if not sep or not rest.strip():
        raise ConfigError(f"bad --component {text!r}: use ROLE=PATH[@VERSION] with ROLE one of {', '.join(ROLES)}")
    if role not in ROLES:
        raise ConfigError(f"bad --component {text!r}: unknown component {role!r}; the local platform takes "
                          f"{', '.join(ROLES)}")
    path, at, version = rest.rpartition("@")
    if not at or not _VERSION.fullmatch(version):  # an '@' inside the path is part of the path
        path, version = rest, ""
    return ComponentBinary(role, Path(path).expanduser(), version.strip() or None)


def parse_components(texts: Iterable[str]) -> dict[str, ComponentBinary]:
    """Role -> binary; a role given twice is refused (which one would run?)."""
    found: dict[str, ComponentBinary] = {}
    for text in texts:
        binary = parse_component(text)
        if binary.role in found:
            raise ConfigError(f"--component {binary.role} given twice ({found[binary.role].path} and {binary.path}): "
                              "pass one")
        found[binary.role] = binary
    return found
