"""The kind plan held against a real API server, without a cluster: every object the plan
applies (its own manifests, and each chart's `helm template` where the chart can be had here)
goes to a kube-apiserver as a server-side dry run (dryRun=All: validated and admitted, never
stored), and the EPP chart's RBAC is checked against what the profile's EPP binary does
(epp_rbac.py, config/epp-rbac.yaml) with SubjectAccessReviews as the EPP's ServiceAccount.

The API server is the caller's (the local control plane with RBAC on, in `make test`), with the
CRDs the plan installs already there. Namespaces and the EPP's RBAC objects are created for real
(a dry-run object needs its namespace; a SubjectAccessReview reads stored RBAC); the RBAC objects
are deleted again after the check.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from llmd_trace_e2e.deployment import chart_render
from llmd_trace_e2e.deployment.values import deep_merge
from llmd_trace_e2e.platforms.kind.epp_rbac import (
    EppDeployment, PermissionCheck, check_epp_permissions, epp_deployment, load_epp_rbac)
from llmd_trace_e2e.platforms.kind.kube import Kube, api_reason
from llmd_trace_e2e.platforms.kind.options import NAMESPACE
from llmd_trace_e2e.platforms.kind.plan import Apply, Command, Plan


@dataclass(frozen=True)
class Document:
    source: str  # the plan step it comes from
    body: Mapping[str, Any]
    namespace: str | None = None  # for namespaced objects that name none (helm's release namespace)

    @property
    def ref(self) -> str:
        meta = self.body.get("metadata") or {}
        ns = meta.get("namespace") or self.namespace
        return f"{self.body.get('kind')}/{ns + '/' if ns else ''}{meta.get('name')}"


@dataclass(frozen=True)
class Refusal:
    source: str
    ref: str
    reason: str


@dataclass(frozen=True)
class Unrendered:
    source: str
    why: str


@dataclass
class DryRunReport:
    profile: str
    applied: list[Document] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    unrendered: list[Unrendered] = field(default_factory=list)
    permissions: list[PermissionCheck] = field(default_factory=list)

    def render(self) -> str:
        """The report as markdown: what passed, what the API server refused, what could not be had."""
        out = [f"# kind plan, profile {self.profile}: server-side dry run", "",
               f"{len(self.applied)} objects accepted, {len(self.refused)} refused."]
        if self.refused:
            out += ["", "| step | object | the API server's reason |", "|---|---|---|"]
            out += [f"| {r.source} | {r.ref} | {r.reason} |" for r in self.refused]
        if self.unrendered:
            out += ["", "Not checked here (a chart that cannot be had here, or files fetched at run time):"]
            out += [f"- {u.source}: {u.why}" for u in self.unrendered]
        for check in self.permissions:
            out += ["", f"EPP {check.epp.image} as {check.subject} ({check.epp.source}):"]
            out += [f"- allowed: {p}" for p in check.allowed]
            out += [f"- DENIED: {p} ({reason})" for p, reason in check.denied]
            out += [f"- not needed here: {n}" for n in check.not_needed]
        accepted: dict[str, list[str]] = {}
        for doc in self.applied:
            accepted.setdefault(doc.source, []).append(doc.ref)
        out += ["", "Accepted:"] + [f"- {source}: {', '.join(refs)}" for source, refs in accepted.items()]
        return "\n".join(out) + "\n"


# ---- what the plan applies -------------------------------------------------------------------


def _docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]


def _flag(argv: tuple[str, ...], name: str) -> str:
    return argv[argv.index(name) + 1]


def _values(plan: Plan, argv: tuple[str, ...]) -> dict[str, Any]:
    """The -f files of a helm command, merged as helm merges them."""
    merged: dict[str, Any] = {}
    for i, arg in enumerate(argv[:-1]):
        if arg == "-f":
            path = Path(argv[i + 1])
            text = plan.files[path] if path in plan.files else path.read_text()
            merged = deep_merge(merged, yaml.safe_load(text) or {})
    return merged


@dataclass
class PlanDocuments:
    documents: list[Document] = field(default_factory=list)
    unrendered: list[Unrendered] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)  # values helm itself refuses
    epps: list[EppDeployment] = field(default_factory=list)


def plan_documents(plan: Plan, chart_dirs: Mapping[str, Path] | None = None) -> PlanDocuments:
    """Every object the plan applies, in plan order, with each chart rendered where it can be had.
    CRD steps are left out: the caller installs the same CRDs from their Go modules first."""
    out = PlanDocuments()
    for step in plan.steps:
        if isinstance(step, Apply) and step.kustomize:
            _kustomize_documents(plan, step, out)
        elif isinstance(step, Apply) and not step.url:
            out.documents += [Document(step.title, d) for d in _docs(plan.files[step.path])]
        elif isinstance(step, Command) and step.argv[:3] == ("helm", "upgrade", "--install"):
            release, chart = step.argv[3], step.argv[4].rsplit("/", 1)[-1]
            version, namespace = _flag(step.argv, "--version"), _flag(step.argv, "--namespace")
            source = f"{step.title} (release {release})"
            try:
                docs = chart_render.render_chart(chart, version, _values(plan, step.argv), release=release,
                                                 namespace=namespace, chart_dirs=chart_dirs)
            except chart_render.ChartUnavailable as exc:
                out.unrendered.append(Unrendered(source, exc.why))
                continue
            except chart_render.ChartRefused as exc:
                out.refused.append(Refusal(source, f"{chart} {version}", f"helm template: {exc.reason}"))
                continue
            out.documents += [Document(source, d, namespace) for d in docs]
            epp = epp_deployment(source, f"{chart} {version}", docs, namespace)
            if epp:
                out.epps.append(epp)
        elif isinstance(step, Command) and step.argv[0] == "helmfile":
            out.unrendered.append(Unrendered(step.title, "a helmfile is not rendered here"))
    return out


def _kustomize_documents(plan: Plan, step: Apply, out: PlanDocuments) -> None:
    """A kustomize step: the harness's prediction of its build where the plan shows one (held
    against the real kustomize by tests/unit/test_kustomize_component.py), the harness's own
    files of it; its remote recipe files are fetched at run time only."""
    shown = [p for p in step.shows if p.name.endswith("-predicted.yaml")]
    own = [p for p in step.shows if p.name == "host-services.yaml"]
    for path in shown + own:
        out.documents += [Document(step.title, d, NAMESPACE) for d in _docs(plan.files[path])]
    remote = (yaml.safe_load(plan.files[step.path / "kustomization.yaml"]) or {}).get("resources") or []
    remote = [r for r in remote if "://" in str(r)]
    if remote:
        out.unrendered.append(Unrendered(step.title, f"fetched by kustomize at run time: {', '.join(remote)}"))


def _namespaces(plan: Plan, documents: Iterable[Document]) -> list[str]:
    names = [d.body["metadata"]["name"] for d in documents if d.body.get("kind") == "Namespace"]
    names += [_flag(s.argv, "--namespace") for s in plan.steps
              if isinstance(s, Command) and "--create-namespace" in s.argv]
    return list(dict.fromkeys(names))


# ---- the whole run ---------------------------------------------------------------------------


def dry_run_plan(plan: Plan, kube: Kube, installed_crds: set[str], *,
                 chart_dirs: Mapping[str, Path] | None = None, rbac: Mapping[str, Any] | None = None) -> DryRunReport:
    rbac = load_epp_rbac() if rbac is None else rbac
    report = DryRunReport(plan.profile.name)
    found = plan_documents(plan, chart_dirs)
    report.unrendered, report.refused = found.unrendered, list(found.refused)
    for name in _namespaces(plan, found.documents):
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    for doc in found.documents:
        try:
            kube.apply(dict(doc.body), dry_run=True, namespace=doc.namespace)
        except Exception as exc:  # noqa: BLE001 - every refusal is collected, not only the first
            report.refused.append(Refusal(doc.source, doc.ref, api_reason(exc)))
        else:
            report.applied.append(doc)
    report.permissions = [check_epp_permissions(kube, epp, installed_crds, rbac) for epp in found.epps]
    return report
