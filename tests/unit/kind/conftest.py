"""Helpers for the kind plan and preflight tests: plans built into a temporary run folder, and
fake command-line tools (each script says it is a fake) put first on a PATH of their own."""
from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from llmd_trace_e2e.platforms.kind.options import KindOptions
from llmd_trace_e2e.platforms.kind.plan import Plan, build_plan


@pytest.fixture
def make_plan(tmp_path):
    def make(profile: str = "kustomize-guide", **options) -> Plan:
        return build_plan(KindOptions(profile=profile, artifacts_dir=tmp_path / "artifacts", **options))
    return make


def rendered(plan: Plan, name: str):
    """The parsed documents of one rendered file (a list for multi-document manifests)."""
    path = plan.options.rendered_dir / name
    docs = [d for d in yaml.safe_load_all(plan.files[path]) if d is not None]
    return docs if len(docs) != 1 else docs[0]


@pytest.fixture
def fake_bin(tmp_path):
    """A directory for fake tools; write_fake(name, body) adds an executable shell script."""
    directory = tmp_path / "fake-bin"
    directory.mkdir()

    def write_fake(name: str, body: str) -> Path:
        path = directory / name
        path.write_text(f"#!/bin/sh\n# FAKE {name} for the kind preflight tests\n{body}\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return path

    write_fake.dir = directory
    return write_fake
