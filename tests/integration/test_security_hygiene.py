"""Security hygiene of the local platform: nothing listens beyond 127.0.0.1 (except the GAIE
EPP, whose listeners upstream hard-codes), and no secret reaches the artifacts folder."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import psutil
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.local_only]

LOOPBACK = {"127.0.0.1", "::1"}
# Known upstream limitation: GAIE's EPP (cmd/epp/runner/runner.go) listens on fmt.Sprintf(":%d", port)
# for its ext_proc gRPC, gRPC health and metrics ports and has no flag to bind an address, so
# those three listen on every interface. Nothing else the platform runs may.
EPP_WILDCARD_PORTS = ("grpc", "health", "metrics")


def _local(platform):
    if platform.name != "local":
        pytest.skip(f"inspects the local platform's processes; this run is on {platform.name}")
    return platform


def listeners(platform) -> list[tuple[str, str, int]]:
    """(component, address, port) of every TCP/UDP socket in LISTEN (or bound UDP) held by a
    process the platform started, its children included (vLLM's engine core, ...)."""
    out = []
    for proc in platform.supervisor.processes:
        try:
            tree = [psutil.Process(proc.pid)] + psutil.Process(proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            continue
        for member in tree:
            try:
                conns = member.net_connections(kind="inet")
            except psutil.Error:
                continue
            for conn in conns:
                udp_bound = conn.type == socket.SOCK_DGRAM and not conn.raddr
                if conn.status == psutil.CONN_LISTEN or udp_bound:
                    out.append((proc.name, conn.laddr.ip, conn.laddr.port))
    return sorted(set(out))


def test_only_loopback_listeners_except_the_epps_known_ones(platform):
    platform = _local(platform)
    found = listeners(platform)
    print("listeners:\n" + "\n".join(f"  {name} {ip}:{port}" for name, ip, port in found))
    assert found, "no listening socket found: the inspection itself is broken"
    epp_ports = dict(zip(EPP_WILDCARD_PORTS, platform.epp_ports))
    exposed = [(name, ip, port) for name, ip, port in found if ip not in LOOPBACK]
    expected = sorted(("epp", ip, port) for name, ip, port in exposed
                      if name == "epp" and port in epp_ports.values())
    unexpected = [entry for entry in exposed if entry not in expected]
    assert not unexpected, ("listening beyond 127.0.0.1: " + ", ".join(f"{n} on {ip}:{p}" for n, ip, p in unexpected)
                            + "\nall listeners: " + ", ".join(f"{n} {ip}:{p}" for n, ip, p in found))
    # The limitation, stated exactly: the EPP's three ports on the wildcard address, no more, no fewer.
    assert sorted(port for _, _, port in expected) == sorted(epp_ports.values()), (
        f"the EPP's wildcard listeners changed (upstream may have added a bind flag): {expected}; "
        f"its ports: {epp_ports}")
    assert {ip for _, ip, _ in expected} <= {"0.0.0.0", "::"}


def secrets_of(platform) -> dict[str, str]:
    """What must never be written to the artifacts folder: the apiserver's bearer token, the
    kubeconfig's contents, the service-account signing key."""
    cp = platform.control_plane
    found = {"apiserver token": cp.token}
    for name, path in (("kubeconfig", cp.kubeconfig), ("service-account key", cp.dir / "certs" / "service-account.key")):
        if Path(path).exists():
            found[name] = Path(path).read_text()
    return found


def test_no_secret_in_the_artifacts(platform):
    """Scans every file of the run's artifacts folder for the apiserver token, the kubeconfig's
    contents and the signing key. Runs last in the session (after e2e/), so that it sees what
    the whole run wrote (tests/faults/conftest.py orders it)."""
    platform = _local(platform)
    artifacts = Path(platform.artifacts)
    control_plane_dir = Path(platform.control_plane.dir).resolve()
    assert artifacts.resolve() not in control_plane_dir.parents, "the credentials folder is inside the artifacts"
    assert oct(os.stat(control_plane_dir).st_mode & 0o777) == oct(0o700), "the credentials folder is readable by others"
    found = secrets_of(platform)
    assert len(found["apiserver token"]) >= 32
    needles = {name: value.strip().encode() for name, value in found.items() if value.strip()}
    key_lines = [line.encode() for line in found.get("service-account key", "").splitlines() if len(line) > 40]
    hits, scanned = [], 0
    for path in artifacts.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        if path.name == "kubeconfig":
            hits.append(f"{path}: a kubeconfig file")
        data = path.read_bytes()
        scanned += 1
        hits += [f"{path}: contains the {name}" for name, needle in needles.items() if needle in data]
        if any(line in data for line in key_lines):
            hits.append(f"{path}: contains a line of the service-account key")
    assert scanned > 5, f"only {scanned} file(s) under {artifacts}: the scan looked at nothing"
    assert not hits, "secrets written to the artifacts:\n  " + "\n  ".join(hits)


test_no_secret_in_the_artifacts.run_last = True
