"""What a run installed into a cluster it did not create (--use-existing-cluster), and taking
exactly that out again: its helm releases, the objects of its own manifests, the CRDs and
namespaces that were not there before. Nothing else on a shared cluster is touched.

The record (`installed.json` in the run folder) is written before the first step and after each
one, so a run that fails half-way, or is interrupted, is removed as far as it got; `kind down`
with the same --artifacts and --cluster-name reads it.
"""
from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass, field
from typing import Callable

from llmd_trace_e2e.runtime.errors import HarnessError
from llmd_trace_e2e.runtime.waits import Pending, wait_for
from llmd_trace_e2e.platforms.kind.kube import Kube, api_reason
from llmd_trace_e2e.platforms.kind.options import KindOptions

RECORD = "installed.json"
Log = Callable[[str], None]


@dataclass
class Installed:
    """Names only: what existed before the run, and what the run added since."""

    namespaces_before: list[str] = field(default_factory=list)
    crds_before: list[str] = field(default_factory=list)
    releases: list[tuple[str, str]] = field(default_factory=list)  # (namespace, release), install order
    # objects the run's own applies created (its manifests, CRD files): [apiVersion, kind, namespace, name]
    objects: list[list[str]] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)  # created by the run
    crds: list[str] = field(default_factory=list)  # created by the run

    @classmethod
    def load(cls, opts: KindOptions) -> "Installed | None":
        path = opts.run_dir / RECORD
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        data["releases"] = [tuple(r) for r in data.get("releases", [])]
        return cls(**data)

    def save(self, opts: KindOptions) -> None:
        path = opts.run_dir / RECORD
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")


def _names(items) -> set[str]:
    return {item.metadata.name for item in items}


class Recorder:
    """Kept by the runner for an existing cluster: snapshot first, then what each step added."""

    def __init__(self, opts: KindOptions, kube: Kube):
        self.opts, self.kube = opts, kube
        self.installed = Installed.load(opts) or Installed(
            sorted(_names(kube.core.list_namespace(_request_timeout=20).items)),
            sorted(_names(kube.ext.list_custom_resource_definition(_request_timeout=20).items)))
        self.installed.save(opts)

    def before_step(self, release: tuple[str, str] | None = None) -> None:
        """Recorded before the step runs: a release that fails half-way is still ours."""
        if release and release not in self.installed.releases:
            self.installed.releases.append(release)
            self.installed.save(self.opts)

    def before_apply(self, doc: dict) -> None:
        """Called for each object before it is applied: one that does not exist yet is the run's."""
        meta = doc.get("metadata") or {}
        ref = [doc["apiVersion"], doc["kind"], meta.get("namespace") or "", meta["name"]]
        if ref not in self.installed.objects and not self.kube.exists(doc):
            self.installed.objects.append(ref)
            self.installed.save(self.opts)

    def after_step(self) -> None:
        inst = self.installed
        namespaces = _names(self.kube.core.list_namespace(_request_timeout=20).items)
        crds = _names(self.kube.ext.list_custom_resource_definition(_request_timeout=20).items)
        inst.namespaces += sorted(namespaces - set(inst.namespaces_before) - set(inst.namespaces))
        inst.crds += sorted(crds - set(inst.crds_before) - set(inst.crds))
        inst.save(self.opts)


def _helm_uninstall(helm: str, opts: KindOptions, namespace: str, release: str, log: Log) -> None:
    argv = [helm, "uninstall", release, "--namespace", namespace, "--ignore-not-found", "--wait",
            "--timeout", f"{int(opts.timeouts.command)}s", "--kubeconfig", str(opts.kubeconfig_path)]
    if opts.kube_context:
        argv += ["--kube-context", opts.kube_context]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=opts.timeouts.command + 30)
    if proc.returncode != 0:
        raise HarnessError(f"helm uninstall {release} -n {namespace} failed: {proc.stderr.strip()[-500:]}")
    log(f"[kind]   helm release {namespace}/{release} uninstalled")


def _gone(kube: Kube, namespaces: list[str], crds: list[str]):
    def probe():
        left = [f"namespace {n}" for n in sorted(_names(kube.core.list_namespace(_request_timeout=20).items))
                if n in namespaces]
        left += [f"CRD {c}" for c in sorted(_names(kube.ext.list_custom_resource_definition(_request_timeout=20).items))
                 if c in crds]
        return True if not left else Pending("still there: " + ", ".join(left))
    return probe


def remove_installed(opts: KindOptions, helm: str, log: Log) -> None:
    """Take out what the record says the run installed, newest first; wait until it is gone."""
    inst = Installed.load(opts)
    if inst is None:
        log(f"[kind] no record of what a run installed ({opts.run_dir / RECORD}): nothing removed")
        return
    kube = Kube(opts.kubeconfig_path, opts.kube_context)
    errors: list[str] = []
    for namespace, release in reversed(inst.releases):
        try:
            _helm_uninstall(helm, opts, namespace, release, log)
        except (HarnessError, subprocess.TimeoutExpired) as exc:
            errors.append(str(exc))
    # What the run's own applies created, but for what goes with its namespace or is a CRD below.
    for api_version, kind, ns, name in reversed(inst.objects):
        if kind in ("Namespace", "CustomResourceDefinition") or ns in inst.namespaces:
            continue
        doc = {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": ns or None}}
        try:
            kube.delete(doc)
        except Exception as exc:  # noqa: BLE001 - every object is tried; the failures are reported together
            errors.append(f"deleting {kind} {ns + '/' if ns else ''}{name}: {api_reason(exc)}")
    for name in reversed(inst.namespaces):
        _delete(lambda n=name: kube.core.delete_namespace(n, _request_timeout=20), errors, f"namespace {name}")
    for name in reversed(inst.crds):
        _delete(lambda n=name: kube.ext.delete_custom_resource_definition(n, _request_timeout=20), errors, f"CRD {name}")
    if errors:
        raise HarnessError("removing what the run installed failed (the record stays in "
                           f"{opts.run_dir / RECORD}; re-run `kind down`): " + "; ".join(errors))
    wait_for("what the run installed to be gone", _gone(kube, inst.namespaces, inst.crds), opts.timeouts.command)
    log(f"[kind] removed {len(inst.releases)} release(s), {len(inst.objects)} object(s) the run applied, "
        f"{len(inst.namespaces)} namespace(s) "
        f"({', '.join(inst.namespaces) or 'none'}), {len(inst.crds)} CRD(s); nothing else touched")
    (opts.run_dir / RECORD).unlink()


def _delete(action: Callable[[], object], errors: list[str], what: str) -> None:
    from kubernetes.client.exceptions import ApiException

    try:
        action()
    except ApiException as exc:
        if exc.status != 404:
            errors.append(f"deleting {what}: {api_reason(exc)}")
