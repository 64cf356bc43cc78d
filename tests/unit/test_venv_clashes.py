"""No file of either venv is written by two distributions: their content must not depend on
the order a parallel installer unpacks wheels in."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from llmd_trace_e2e.platforms.local.assets import vllm_env_dir
from llmd_trace_e2e.runtime.venv_clashes import Clash, clashes, summary


def fake_venv(root: Path, records: dict[str, list[str]], files: dict[str, bytes]) -> Path:
    """A FAKE venv: dist-info RECORDs and the files they name."""
    site = root / "lib" / "python3.11" / "site-packages"
    for dist, paths in records.items():
        info = site / f"{dist}.dist-info"
        info.mkdir(parents=True)
        (info / "RECORD").write_text("".join(f"{p},sha256=x,1\n" for p in paths + [f"{dist}.dist-info/RECORD"]))
    for path, content in files.items():
        (site / path).parent.mkdir(parents=True, exist_ok=True)
        (site / path).write_bytes(content)
    return root


def test_a_shared_file_is_found_naming_both_distributions(tmp_path):
    venv = fake_venv(tmp_path, {"xds_protos-1.85.0": ["opentelemetry/proto/common/v1/common_pb2.py", "ns/__init__.py"],
                                "opentelemetry_proto-1.45.2": ["opentelemetry/proto/common/v1/common_pb2.py",
                                                               "ns/__init__.py"]},
                     {"ns/__init__.py": b"", "opentelemetry/proto/common/v1/common_pb2.py": b"x = 1\n"})
    found = clashes(venv)
    assert found == [Clash("opentelemetry/proto/common/v1/common_pb2.py",
                           ("opentelemetry_proto-1.45.2", "xds_protos-1.85.0"))]
    assert "1 file(s) from opentelemetry_proto-1.45.2 + xds_protos-1.85.0, e.g. opentelemetry/proto/common" \
        in summary(venv, found)


def test_a_shared_init_with_code_is_a_clash(tmp_path):
    venv = fake_venv(tmp_path, {"a-1": ["pkg/__init__.py"], "b-2": ["pkg/__init__.py"]}, {"pkg/__init__.py": b"X = 1\n"})
    assert [c.path for c in clashes(venv)] == ["pkg/__init__.py"]


@pytest.mark.parametrize("which", ["harness", "vllm"])
def test_venv_has_no_clashing_files(which):
    venv = Path(sys.prefix) if which == "harness" else vllm_env_dir()
    if which == "harness" and sys.prefix == sys.base_prefix:
        pytest.skip("the tests do not run in a venv: nothing to check")
    if which == "vllm" and not (venv / ".complete").exists():
        pytest.skip(f"the vLLM venv is not built ({venv}): `make assets` builds it")
    found = clashes(venv)
    assert not found, summary(venv, found)
