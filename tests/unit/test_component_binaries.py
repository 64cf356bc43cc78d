"""`--component ROLE=PATH[@VERSION]`: each kind of bad input refused in one line naming the fix,
before anything starts; a binary that takes its profile's flags accepted (the positive control).
The binaries here are fakes (shell scripts printing a --help), named as such."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from llmd_trace_e2e.platforms.local.binaries import probe, version_from_build_info
from llmd_trace_e2e.platforms.local.components import (
    LocalBinaries, RunBinary, choose_profile, refuse_unfit, resolve_binaries)
from llmd_trace_e2e.platforms.local.launches import baseline_values, render_argv
from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.deployment.components import parse_component, parse_components
from llmd_trace_e2e.deployment.profiles import load_profile

ROUTER_EPP_FLAGS = ["pool-name", "pool-namespace", "pool-group", "grpc-port", "grpc-health-port", "metrics-port",
                    "secure-serving", "metrics-endpoint-auth", "refresh-metrics-interval", "tracing", "zap-encoder",
                    "config-file", "v"]
SIDECAR_FLAGS = ["port", "model-server-port", "kv-connector", "secure-proxy", "tracing", "zap-encoder",
                 "zap-log-level", "cert-path"]


def fake_binary(folder: Path, name: str, flags: list[str], extra: str = "") -> Path:
    """A fake program whose --help lists `flags` the way pflag prints them."""
    path = folder / name
    usage = "\n".join(f"      --{f} string   what {f} does" for f in flags)
    path.write_text(f"#!/bin/sh\n{extra}\ncat >&2 <<'EOF'\nUsage of {name}:\n{usage}\nEOF\nexit 0\n")
    path.chmod(0o755)
    return path


def one_line_refusal(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        probe(parse_component(text), timeout_s=2.0)
    message = str(caught.value)
    assert "\n" not in message, f"not one line: {message!r}"
    return message


def test_a_binary_that_takes_its_flags_is_accepted(tmp_path):
    """The positive control for every refusal below."""
    epp = probe(parse_component(f"epp={fake_binary(tmp_path, 'fake-epp', ROUTER_EPP_FLAGS)}@v0.10.0"))
    proxy = probe(parse_component(f"routing-proxy={fake_binary(tmp_path, 'fake-sidecar', SIDECAR_FLAGS)}"))
    assert (epp.role, epp.version, epp.version_source) == ("epp", "v0.10.0", "@VERSION")
    assert (proxy.version, proxy.version_source) == (None, "unknown"), "a script has no build info: version unknown"
    profile = load_profile("local-kustomize-guide")
    binaries = LocalBinaries(RunBinary("epp", epp.path, epp.version, "--component", epp),
                             RunBinary("routing-proxy", proxy.path, None, "--component", proxy))
    refuse_unfit(profile, binaries, lambda prof, role, own: render_argv(prof, role, baseline_values(prof)))
    assert binaries.versions() == {"epp": "v0.10.0", "routing-proxy": None}


def test_bin_true_is_not_an_epp():
    message = one_line_refusal("epp=/bin/true")
    assert "--component epp=/bin/true" in message and "it is not an EPP" in message, message


def test_missing_path(tmp_path):
    assert "no such file" in one_line_refusal(f"epp={tmp_path / 'nope'}")


def test_not_executable(tmp_path):
    path = tmp_path / "fake-epp"
    path.write_text("#!/bin/sh\n")
    assert f"chmod +x {path}" in one_line_refusal(f"epp={path}")


def test_not_a_program_for_this_machine(tmp_path):
    text = tmp_path / "fake-epp.txt"
    text.write_text("just text\n")
    text.chmod(0o755)
    assert "not a program for this machine" in one_line_refusal(f"epp={text}")
    foreign = tmp_path / "fake-epp-arm"
    foreign.write_bytes(b"\x7fELF\x02\x01\x01" + b"\x00" * 11 + (0x28).to_bytes(2, "little") + b"\x00" * 100)
    foreign.chmod(0o755)
    assert "built for another CPU" in one_line_refusal(f"epp={foreign}")


def test_a_help_that_hangs_is_cut_short(tmp_path):
    hangs = fake_binary(tmp_path, "fake-epp-hangs", ROUTER_EPP_FLAGS, extra="sleep 60")
    started = time.monotonic()
    message = one_line_refusal(f"epp={hangs}")
    assert "did not answer within 2 s" in message, message
    assert time.monotonic() - started < 30, "the hung --help was not killed at its timeout"


def test_an_epp_in_the_proxy_slot(tmp_path):
    epp = fake_binary(tmp_path, "fake-epp", ROUTER_EPP_FLAGS)
    message = one_line_refusal(f"routing-proxy={epp}")
    assert "is an EPP" in message and "--component epp=PATH" in message, message


def test_a_flag_the_render_gives_but_the_binary_lacks_names_the_profile_that_fits(tmp_path):
    """GAIE's inferencepool chart renders --v; an EPP without it fits the router chart's profile only."""
    no_v = [f for f in ROUTER_EPP_FLAGS if f != "v"]
    path = fake_binary(tmp_path, "fake-epp", no_v)
    epp = probe(parse_component(f"epp={path}"))
    binaries = LocalBinaries(RunBinary("epp", epp.path, None, "--component", epp))
    with pytest.raises(ConfigError) as caught:
        refuse_unfit(load_profile("local"), binaries,
                     lambda prof, role, own: render_argv(prof, role, baseline_values(prof)))
    message = str(caught.value)
    assert "does not take --v, which profile local gives the EPP" in message, message
    assert "--profile local-kustomize-guide" in message, message


def test_option_syntax():
    assert parse_component("epp=/x/epp@v0.10.0").version == "v0.10.0"
    assert parse_component("epp=/x/a@b/epp").path == Path("/x/a@b/epp"), "an @ inside the path stays in the path"
    for bad, says in (("epp", "use ROLE=PATH"), ("proxy=/bin/x", "unknown component 'proxy'")):
        with pytest.raises(ConfigError, match=says):
            parse_component(bad)
    with pytest.raises(ConfigError, match="given twice"):
        parse_components(["epp=/a", "epp=/b"])


def test_the_profile_follows_the_epp(tmp_path):
    router = probe(parse_component(f"epp={fake_binary(tmp_path, 'fake-epp', ROUTER_EPP_FLAGS)}"))
    assert choose_profile(None, {"epp": router}) == "local-kustomize-guide"
    assert choose_profile("local", {"epp": router}) == "local", "--profile wins"
    assert choose_profile(None, {}) == "local"


def test_without_a_proxy_binary_the_proxy_is_absent_naming_component(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMD_TRACE_E2E_BIN", str(tmp_path))
    (tmp_path / "pd-sidecar.unavailable").write_text("the Go module proxy does not serve it (403 Forbidden)\n")
    epp = probe(parse_component(f"epp={fake_binary(tmp_path, 'fake-epp', ROUTER_EPP_FLAGS)}"))
    profile = load_profile("local-kustomize-guide")
    binaries = resolve_binaries(profile, {"epp": epp})
    assert binaries.proxy is None and "403 Forbidden" in binaries.proxy_absent
    run_profile = binaries.applied_to(profile)
    assert not run_profile.runs("routing-proxy")
    assert "--component routing-proxy=PATH" in run_profile.absent["routing-proxy"]
    # and with no EPP at all the run is refused, naming --component
    with pytest.raises(ConfigError, match=r"router-epp, which is not here .*--component epp=PATH"):
        resolve_binaries(profile, {}).require()


def test_versions_from_build_info():
    modinfo = ("path\tgithub.com/llm-d/llm-d-router/cmd/epp\nmod\tgithub.com/llm-d/llm-d-router\t(devel)\t\n"
               "build\t-ldflags=\"-s -w -X github.com/llm-d/llm-d-router/version.BuildRef=v0.10.0\"\n")
    assert version_from_build_info(modinfo) == ("github.com/llm-d/llm-d-router", "v0.10.0")
    assert version_from_build_info("mod\tsigs.k8s.io/x\tv1.5.0\th1:abc\n") == ("sigs.k8s.io/x", "v1.5.0")
    wrapped = ("path\tgithub.com/llm-d/llm-d-router/cmd/pd-sidecar\nmod\tllmd-trace-e2e/tools\t(devel)\t\n"
               "dep\tgithub.com/llm-d/llm-d-router\tv0.10.0\th1:abc\n")
    assert version_from_build_info(wrapped) == ("github.com/llm-d/llm-d-router", "v0.10.0"), "as `make tools` builds it"
