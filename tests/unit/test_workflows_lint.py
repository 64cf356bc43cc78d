"""The CI workflows pass actionlint (built by `make tools` from the pin in versions.toml)."""
from __future__ import annotations

import subprocess

import pytest

from llmd_trace_e2e.runtime.errors import ToolMissing
from llmd_trace_e2e.runtime.paths import repo_root, tool

WORKFLOWS = sorted((repo_root() / ".github" / "workflows").glob("*.yml"))


def test_the_three_workflows_exist():
    assert {p.name for p in WORKFLOWS} >= {"pr.yml", "nightly.yml", "manual.yml"}


def test_workflows_pass_actionlint():
    try:
        actionlint = tool("actionlint")
    except ToolMissing as exc:
        pytest.fail(f"{exc} (the workflow lint needs it)")
    # shellcheck and pyflakes are left out: whether a machine has them must not change the verdict
    proc = subprocess.run([str(actionlint), "-shellcheck=", "-pyflakes=", *map(str, WORKFLOWS)],
                          capture_output=True, text=True, timeout=120, cwd=repo_root())
    assert proc.returncode == 0, f"actionlint found problems:\n{proc.stdout}{proc.stderr}"
