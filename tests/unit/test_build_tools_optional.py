"""`make tools` and an optional tool (llm-d-router's EPP and pd-sidecar): built where the Go
module proxy serves its module, skipped in one line where it refuses. The served branch never
runs on machines whose proxy refuses llm-d-router, so a file-based module proxy (a file:// GOPROXY)
holding a small fake module drives it here; the real proxy's refusal drives the other branch.
"""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from llmd_trace_e2e.runtime.paths import repo_root

pytestmark = pytest.mark.skipif(shutil.which("go") is None, reason="needs the Go toolchain (make tools needs it too)")

FAKE_MODULE = "example.com/fake/router"
FAKE_VERSION = "v0.1.0"
FAKE_MAIN = """package main

import (
\t"flag"
\t"fmt"

\t"example.com/fake/router/version"
)

func main() {
\tflag.Bool("tracing", false, "the fake's only flag")
\tflag.Parse()
\tfmt.Println("fake epp", version.BuildRef)
}
"""


@pytest.fixture()
def build_tools(tmp_path, monkeypatch):
    """scripts/build_tools.py as a module, writing into a temporary .bin and tool cache."""
    spec = importlib.util.spec_from_file_location("build_tools_under_test", repo_root() / "scripts" / "build_tools.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "BIN", tmp_path / "bin")
    monkeypatch.setenv("LLMD_TRACE_E2E_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GOMODCACHE", str(tmp_path / "modcache"))
    monkeypatch.setenv("GOSUMDB", "off")  # the fake module is in no checksum database
    yield module
    subprocess.run(["go", "clean", "-modcache"], capture_output=True, env={**__import__("os").environ})


def fake_proxy(root: Path) -> str:
    """A file:// GOPROXY serving FAKE_MODULE at FAKE_VERSION (the layout `go help goproxy` describes)."""
    files = {"go.mod": f"module {FAKE_MODULE}\n\ngo 1.22\n", "cmd/epp/main.go": FAKE_MAIN,
             "version/version.go": "package version\n\nvar BuildRef = \"unset\"\n"}
    versions = root / FAKE_MODULE / "@v"
    versions.mkdir(parents=True)
    (versions / "list").write_text(FAKE_VERSION + "\n")
    (versions / f"{FAKE_VERSION}.info").write_text(f'{{"Version": "{FAKE_VERSION}"}}')
    (versions / f"{FAKE_VERSION}.mod").write_text(files["go.mod"])
    with zipfile.ZipFile(versions / f"{FAKE_VERSION}.zip", "w") as archive:
        for name, text in files.items():
            archive.writestr(f"{FAKE_MODULE}@{FAKE_VERSION}/{name}", text)
    return root.as_uri()


def fake_spec() -> dict:
    return {"for": ["local"], "optional": True, "version": FAKE_VERSION, "module": FAKE_MODULE,
            "package": f"{FAKE_MODULE}/cmd/epp", "version_stamp": f"{FAKE_MODULE}/version.BuildRef"}


def test_a_served_optional_tool_is_built_with_its_version_stamped(build_tools, tmp_path, monkeypatch):
    monkeypatch.setenv("GOPROXY", fake_proxy(tmp_path / "proxy"))
    line = build_tools.build_one("fake-epp", fake_spec(), build_tools.go_version())
    assert line.startswith("built in "), f"the fake module served by the file proxy was not built: {line}"
    binary = build_tools.BIN / "fake-epp"
    out = subprocess.run([str(binary)], capture_output=True, text=True, timeout=30).stdout
    assert out.strip() == f"fake epp {FAKE_VERSION}", f"the build did not stamp the release version: {out!r}"
    assert not build_tools.unavailable_marker("fake-epp").exists()


def test_a_refused_optional_tool_is_skipped_in_one_line(build_tools, tmp_path, monkeypatch):
    # Positive control first: a marker left by an earlier refusal goes once the tool builds.
    monkeypatch.setenv("GOPROXY", fake_proxy(tmp_path / "proxy"))
    build_tools.unavailable("fake-epp", "stale")
    assert build_tools.build_one("fake-epp", fake_spec(), build_tools.go_version()).startswith("built")
    assert not build_tools.unavailable_marker("fake-epp").exists()

    empty = tmp_path / "empty-proxy"
    empty.mkdir()
    monkeypatch.setenv("GOPROXY", empty.as_uri())
    spec = {**fake_spec(), "module": "example.com/fake/absent", "package": "example.com/fake/absent/cmd/epp"}
    line = build_tools.build_one("fake-absent", spec, build_tools.go_version())
    assert line.startswith("not built: ") and "\n" not in line, f"expected one line saying it was skipped: {line!r}"
    assert "does not serve example.com/fake/absent@v0.1.0" in line and "--component" in line, line
    assert "does not serve" in build_tools.unavailable_marker("fake-absent").read_text()
    assert not (build_tools.BIN / "fake-absent").exists()


def test_a_refused_required_tool_still_fails(build_tools, tmp_path, monkeypatch):
    empty = tmp_path / "empty-proxy"
    empty.mkdir()
    monkeypatch.setenv("GOPROXY", empty.as_uri())
    spec = {**fake_spec(), "optional": False, "module": "example.com/fake/absent",
            "package": "example.com/fake/absent/cmd/epp"}
    with pytest.raises(build_tools.BuildError, match="does not serve example.com/fake/absent"):
        build_tools.build_one("fake-absent", spec, build_tools.go_version())
