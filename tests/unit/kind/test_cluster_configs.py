"""The real kind binary (v0.33.0, built by `make tools`) accepts clusters/kind-*.yaml: kind
decodes the config strictly before it looks for Docker, so with a fake docker whose daemon is
down the run must get past decoding and stop at Docker."""
from __future__ import annotations

import subprocess

import pytest

from llmd_trace_e2e.runtime.errors import ToolMissing
from llmd_trace_e2e.runtime.paths import repo_root, tool


@pytest.mark.parametrize("name", ["kind-cpu.yaml", "kind-gpu.yaml"])
def test_kind_decodes_the_cluster_config(name, fake_bin, tmp_path):
    try:
        kind = tool("kind")
    except ToolMissing as exc:
        pytest.skip(f"SKIPPED LOUDLY: {exc}")
    fake_bin("docker", 'echo "FAKE docker: daemon down" >&2; exit 1')
    proc = subprocess.run([str(kind), "create", "cluster", "--name", "decode-check", "--config",
                           str(repo_root() / "clusters" / name), "--kubeconfig", str(tmp_path / "kc")],
                          capture_output=True, text=True, timeout=60, env={"PATH": str(fake_bin.dir)})
    assert proc.returncode != 0
    assert "decode config" not in proc.stderr and "kind / apiVersion" not in proc.stderr, proc.stderr
    assert "docker" in proc.stderr, proc.stderr
