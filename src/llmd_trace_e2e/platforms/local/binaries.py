"""What a binary brought with `--component` is, asked of the binary itself before anything starts:
a program for this machine, the flags its `--help` lists (with a timeout), which role those flags
make it (an EPP or a routing proxy), and its version (`@VERSION`, else the Go build info's module
version or the `-X ...version.BuildRef=` its release build stamps in). Every refusal is one line.
"""
from __future__ import annotations

import os
import platform
import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.deployment.components import ComponentBinary

HELP_TIMEOUT_S = 10.0
_ELF_MACHINES = {"x86_64": 0x3E, "amd64": 0x3E, "aarch64": 0xB7, "arm64": 0xB7, "ppc64le": 0x15, "s390x": 0x16}
# Flags only one of the two programs has: what tells an EPP from a routing proxy.
ROLE_MARKERS = {"epp": frozenset({"pool-name", "grpc-port", "grpc-health-port"}),
                "routing-proxy": frozenset({"model-server-port", "vllm-port", "kv-connector", "connector"})}
_FLAG = re.compile(r"(?:^|[\s,\[])--?([a-z][a-z0-9]*(?:[-_.][a-z0-9]+)*)\b", re.M)
_BUILDINFO_MAGIC = b"\xff Go buildinf:"
# llm-d-router's EPP logs its build before anything else, --help included: {"msg":"GIE build",...,"build-ref":"v0.10.0"}
_BUILD_REF_LOG = re.compile(r'"build-ref"\s*:\s*"(v?\d+\.\d+\.\d+[^"]*)"')
# Deprecated flags pflag hides from --help but still takes: flag -> the one --help lists instead.
# (pd-sidecar v0.10.0 hides --vllm-port, which every llm-d-modelservice release renders.)
HIDDEN_DEPRECATED = {"vllm-port": "model-server-port"}


@dataclass(frozen=True)
class ProbedBinary:
    role: str
    path: Path
    flags: frozenset[str]
    version: str | None  # None: neither @VERSION nor the binary says
    version_source: str  # "@VERSION", "build info", "unknown"
    module: str | None = None  # the Go main module it was built from, when it says

    def describe(self) -> str:
        return f"{self.path} ({f'version {self.version}, from {self.version_source}' if self.version else 'version unknown'})"


def _refuse(binary: ComponentBinary, why: str) -> ConfigError:
    return ConfigError(f"--component {binary.role}={binary.path}: {why}")


def check_program(binary: ComponentBinary) -> None:
    """Exists, is a file, is executable, and is a program for this machine (ELF of this
    architecture, or a script with a #! line)."""
    path = binary.path
    if not path.exists():
        raise _refuse(binary, "no such file: pass the path of the built binary")
    if not path.is_file():
        raise _refuse(binary, "is not a file: pass the binary itself, not its folder")
    if not os.access(path, os.X_OK):
        raise _refuse(binary, f"is not executable: chmod +x {path}")
    with open(path, "rb") as fh:
        head = fh.read(20)
    if head.startswith(b"#!"):
        return
    machine = platform.machine().lower()
    if not head.startswith(b"\x7fELF"):
        raise _refuse(binary, f"is not a program for this machine (not an ELF executable for Linux {machine}): "
                              f"build it with GOOS=linux GOARCH={_goarch(machine)}")
    elf_machine = int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")
    want = _ELF_MACHINES.get(machine)
    if want is not None and elf_machine != want:
        raise _refuse(binary, f"is built for another CPU (ELF machine {elf_machine:#x}, this is {machine}): "
                              f"build it with GOOS=linux GOARCH={_goarch(machine)}")


def _goarch(machine: str) -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def help_text(binary: ComponentBinary, timeout_s: float = HELP_TIMEOUT_S) -> str:
    """What `PATH --help` prints (Go's flag and pflag print usage to stderr and exit 0 or 2)."""
    try:
        proc = subprocess.Popen([str(binary.path), "--help"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
    except OSError as exc:
        raise _refuse(binary, f"cannot be run ({exc.strerror}): pass a program built for this machine") from None
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise _refuse(binary, f"`--help` did not answer within {timeout_s:g} s: pass the EPP or pd-sidecar binary "
                              "itself (one that prints its flags and exits)") from None
    return out.decode(errors="replace")


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _a(role: str) -> str:
    return "an EPP" if role == "epp" else "a routing proxy"


def role_of(flags: frozenset[str]) -> str | None:
    """"epp" or "routing-proxy" when the flags say so unambiguously, else None."""
    found = [role for role, markers in ROLE_MARKERS.items() if flags & markers]
    return found[0] if len(found) == 1 else None


def build_info(path: Path) -> tuple[str | None, str]:
    """(Go version, module info) from a Go binary's build info blob (Go 1.18+ layout); ("", "") if none."""
    try:
        data = path.read_bytes()
    except OSError:
        return None, ""
    at = data.find(_BUILDINFO_MAGIC)
    if at < 0 or len(data) < at + 32 or not data[at + 15] & 0x2:
        return None, ""
    pos, strings = at + 32, []
    for _ in range(2):
        length, shift = 0, 0
        while pos < len(data):
            byte = data[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        strings.append(data[pos:pos + length].decode(errors="replace"))
        pos += length
    modinfo = strings[1][16:-16] if len(strings[1]) >= 32 else strings[1]  # sentinels around it
    return strings[0], modinfo


def version_from_build_info(modinfo: str) -> tuple[str | None, str | None]:
    """(main module path, its version): the module's own version when built from the module proxy,
    else the `-X .../version.BuildRef=` a release build stamps in (llm-d-router's Dockerfiles)."""
    module = version = package = None
    for line in modinfo.splitlines():
        parts = line.split("\t")
        if parts[0] == "path" and len(parts) >= 2:
            package = parts[1]
        elif parts[0] == "mod" and len(parts) >= 3:
            module, version = parts[1], (parts[2] if parts[2] != "(devel)" else None)
        elif parts[0] == "dep" and len(parts) >= 3 and package and package.startswith(parts[1] + "/"):
            module, version = parts[1], parts[2]  # built in a module of its own that requires the program's
        elif parts[0] == "build" and len(parts) >= 2 and parts[1].startswith("-ldflags=") and version is None:
            ref = re.search(r"version\.BuildRef=(v?\d+\.\d+\.\d+[^\s'\"]*)", parts[1])
            version = ref.group(1) if ref else None
    return module, version


def probe(binary: ComponentBinary, timeout_s: float = HELP_TIMEOUT_S) -> ProbedBinary:
    """Everything the harness needs to know about a brought binary, or one line saying why it won't do."""
    check_program(binary)
    text = help_text(binary, timeout_s)
    flags = frozenset(_FLAG.findall(text))
    if not flags & (ROLE_MARKERS["epp"] | ROLE_MARKERS["routing-proxy"]):
        markers = ", ".join(f"--{f}" for f in sorted(ROLE_MARKERS[binary.role]))
        builds = "a build of llm-d-router's or GAIE's cmd/epp" if binary.role == "epp" \
            else "a build of llm-d-router's cmd/pd-sidecar"
        raise _refuse(binary, f"its `--help` lists none of {markers}: it is not {_a(binary.role)} (pass {builds})")
    role = role_of(flags)
    if role is not None and role != binary.role:
        markers = ", ".join(f"--{f}" for f in sorted(flags & ROLE_MARKERS[role]))
        raise _refuse(binary, f"is {_a(role)} (its --help lists {markers}), not {_a(binary.role)}: "
                              f"pass it as --component {role}=PATH")
    module, built = version_from_build_info(build_info(binary.path)[1])
    if binary.version:
        return ProbedBinary(binary.role, binary.path, flags, binary.version, "@VERSION", module)
    logged = _BUILD_REF_LOG.search(text)
    if logged:
        return ProbedBinary(binary.role, binary.path, flags, logged.group(1), "its build log line", module)
    return ProbedBinary(binary.role, binary.path, flags, built, "build info" if built else "unknown", module)


def missing_flags(probed: ProbedBinary, argv: list[str]) -> list[str]:
    """The flags of `argv` (a launch: --name or --name=value) the binary's --help does not list."""
    wanted = [a[2:].split("=", 1)[0] for a in argv if isinstance(a, str) and a.startswith("--")]
    return [f for f in dict.fromkeys(wanted)
            if f not in probed.flags and HIDDEN_DEPRECATED.get(f, f) not in probed.flags]
