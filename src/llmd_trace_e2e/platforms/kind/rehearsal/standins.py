"""What the rehearsal puts where the network would have served something it cannot have here,
each labelled as a stand-in (Chart.yaml's description and annotation say what it is made of):

- a chart that neither a --chart-dir nor a Go module serves becomes a chart made of a golden
  render of that release (LLMD_GOLDEN_RENDERS, default ../shared/golden-renders, read at run
  time): its objects as `helm template` rendered them for the golden case's values, installed
  and uninstalled through helm like the real chart. The run's own values do not reach it.
  Without a golden render, one Deployment named after the release stands in.
- istio/base becomes a chart of Istio's CRDs from their Go module (versions.toml [crds.modules]);
- istio/istiod becomes a chart of one Deployment named istiod (kwok makes it Ready), and
  `GatewayProgrammer` does istiod's one job the run waits for: marking the Gateway Programmed.
"""
from __future__ import annotations

import os
import shutil
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import yaml

from llmd_trace_e2e.runtime.paths import repo_root
from llmd_trace_e2e.deployment.chart_render import locate_chart
from llmd_trace_e2e.deployment.profiles import ChartPin
from llmd_trace_e2e.platforms.kind.crd_modules import crd_files, crd_modules

STAND_IN_ANNOTATION = "llmd-trace-e2e.llm-d.ai/rehearsal-stand-in"
GOLDEN_NAMESPACE = "llmd-trace-e2e"  # the namespace the golden renders were made for
# Which golden case stands for a chart release: the case closest to the kind plan's values.
GOLDEN_CASES = {"llm-d-modelservice": ("guide-full", "guide-full-no-routingproxy"),
                "llm-d-router-gateway": ("guide",), "inferencepool": ("guide",)}


def golden_root() -> Path:
    return Path(os.environ.get("LLMD_GOLDEN_RENDERS") or repo_root().parent / "shared" / "golden-renders")


def _escape(text: str) -> str:
    """Rendered text as a template that renders to itself, with the namespace the release's."""
    text = text.replace("{{", "{{`{{`}}")
    return text.replace(f"namespace: {GOLDEN_NAMESPACE}", "namespace: {{ .Release.Namespace }}").replace(
        f"- {GOLDEN_NAMESPACE}\n", "- {{ .Release.Namespace }}\n")


def _chart(folder: Path, pin: ChartPin, made_of: str, templates: dict[str, str] | None = None,
           crds: dict[str, str] | None = None) -> Path:
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "templates").mkdir(parents=True)
    meta = {"apiVersion": "v2", "name": pin.chart, "version": pin.version.lstrip("v"), "appVersion": pin.version,
            "description": f"REHEARSAL STAND-IN for {pin.chart} {pin.version}, made of {made_of}: the real chart "
                           "cannot be had here",
            "annotations": {STAND_IN_ANNOTATION: made_of}}
    (folder / "Chart.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    for name, text in (templates or {}).items():
        (folder / "templates" / name).write_text(text)
    if crds:
        (folder / "crds").mkdir()
        for name, text in crds.items():
            (folder / "crds" / name).write_text(text)
    return folder


def golden_chart(pin: ChartPin, workdir: Path) -> Path:
    """The golden render of this release; where none is at hand (a fresh clone in CI), one
    Deployment named after the release: helm's install, its wait and its uninstall are rehearsed
    all the same, the chart's objects are not."""
    for case in GOLDEN_CASES.get(pin.chart, ()):
        rendered = golden_root() / pin.chart / pin.version / case / "rendered.yaml"
        if rendered.is_file():
            return _chart(workdir / pin.chart, pin, f"the golden render {rendered}",
                          {"rendered.yaml": _escape(rendered.read_text())})
    return _chart(workdir / pin.chart, pin, f"one Deployment (no golden render of it in {golden_root()}; "
                                            "set LLMD_GOLDEN_RENDERS)", {"deployment.yaml": MINIMAL_STAND_IN})


MINIMAL_STAND_IN = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  namespace: {{ .Release.Namespace }}
  labels: {app: "{{ .Release.Name }}"}
spec:
  replicas: 1
  selector: {matchLabels: {app: "{{ .Release.Name }}"}}
  template:
    metadata: {labels: {app: "{{ .Release.Name }}"}}
    spec:
      containers:
      - name: stand-in
        image: "registry.invalid/llmd-trace-e2e/{{ .Chart.Name }}:{{ .Chart.AppVersion }}"
"""


def istio_base_chart(pin: ChartPin, workdir: Path, versions) -> Path:
    [module] = [m for m in crd_modules(versions) if m.key == "istio"]
    crds = {f"{i:02d}-{p.name}": p.read_text() for i, p in enumerate(crd_files(module))}
    return _chart(workdir / pin.chart, pin, f"Istio's CRDs from Go module {module}", crds=crds)


ISTIOD_STAND_IN = """apiVersion: v1
kind: ServiceAccount
metadata:
  name: istiod
  namespace: {{ .Release.Namespace }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: istiod
  namespace: {{ .Release.Namespace }}
  labels: {app: istiod}
spec:
  replicas: 1
  selector: {matchLabels: {app: istiod}}
  template:
    metadata: {labels: {app: istiod}}
    spec:
      serviceAccountName: istiod
      containers:
      - name: discovery
        image: "istio/pilot:{{ .Chart.AppVersion }}"
"""


def chart_dirs(pins: Iterable[ChartPin], workdir: Path, versions) -> tuple[tuple[str, Path], ...]:
    """A --chart-dir for every chart of the plan that cannot be had here otherwise."""
    out = []
    for pin in pins:
        if locate_chart(pin.chart, pin.version)[0] is not None:
            continue  # the real chart (a Go module serves it)
        if pin.chart == "base":
            folder = istio_base_chart(pin, workdir, versions)
        elif pin.chart == "istiod":
            folder = _chart(workdir / pin.chart, pin, "one istiod Deployment (kwok makes it Ready)",
                            {"istiod.yaml": ISTIOD_STAND_IN})
        else:
            folder = golden_chart(pin, workdir)
        out.append((pin.chart, folder))
    return tuple(out)


def made_of(folder: Path) -> str:
    """What a chart folder says it is made of: a stand-in's label, else the real chart."""
    meta = yaml.safe_load((Path(folder) / "Chart.yaml").read_text()) or {}
    return (meta.get("annotations") or {}).get(STAND_IN_ANNOTATION) or "the real chart"


class GatewayProgrammer:
    """istiod's part the run waits for: every Gateway of class istio gets Accepted and Programmed
    (a real istiod also starts the gateway's Envoy; here nothing would answer it anyway)."""

    def __init__(self, kube, interval_s: float = 0.5):
        self.kube, self.interval_s = kube, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="gateway-programmer", daemon=True)
        self.programmed: list[str] = []

    def __enter__(self) -> "GatewayProgrammer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._program()
            except Exception:  # noqa: BLE001 - the CRD may not exist yet; the next pass tries again
                pass

    def _program(self) -> None:
        group, version = "gateway.networking.k8s.io", "v1"
        for gw in self.kube.custom.list_cluster_custom_object(group, version, "gateways")["items"]:
            meta = gw["metadata"]
            conditions = (gw.get("status") or {}).get("conditions") or []
            if gw["spec"].get("gatewayClassName") != "istio" or any(
                    c.get("type") == "Programmed" and c.get("status") == "True" for c in conditions):
                continue
            now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            status = {"conditions": [
                {"type": t, "status": "True", "reason": t, "lastTransitionTime": now,
                 "observedGeneration": meta.get("generation", 1),
                 "message": "set by the kind rehearsal's stand-in for istiod"} for t in ("Accepted", "Programmed")]}
            self.kube.custom.patch_namespaced_custom_object_status(
                group, version, meta["namespace"], "gateways", meta["name"], {"status": status})
            self.programmed.append(f"{meta['namespace']}/{meta['name']}")
