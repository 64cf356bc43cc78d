"""The kind plan held against a real API server, without a cluster: every object the plan
applies (its own manifests, and each chart's `helm template` where the chart can be had here)
goes to a kube-apiserver as a server-side dry run (dryRun=All: validated and admitted, never
stored), and the EPP chart's RBAC is checked against what the profile's EPP binary does
(config/epp-rbac.yaml) with SubjectAccessReviews as the EPP's ServiceAccount.

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

from .. import chart_render
from ..errors import ConfigError
from ..paths import config_dir
from ..values import deep_merge
from .kube import Kube, api_reason
from .plan import Apply, Command, Plan

RBAC_KINDS = ("ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")
EPP_CONTAINER = "epp"


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


@dataclass(frozen=True)
class EppDeployment:
    """The EPP as a chart renders it: what runs, as whom, and the RBAC objects that come with it."""

    source: str
    chart: str  # "NAME VERSION"
    image: str
    args: tuple[str, ...]
    service_account: str
    namespace: str
    rbac: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class Permission:
    group: str
    resource: str
    verb: str
    namespace: str | None  # None: cluster-scoped

    def __str__(self) -> str:
        where = f"in {self.namespace}" if self.namespace else "cluster-wide"
        return f"{self.verb} {self.resource}{'.' + self.group if self.group else ''} {where}"


@dataclass
class PermissionCheck:
    epp: EppDeployment
    read_from: list[str] = field(default_factory=list)
    allowed: list[Permission] = field(default_factory=list)
    denied: list[tuple[Permission, str]] = field(default_factory=list)  # (permission, the authorizer's reason)
    not_needed: list[str] = field(default_factory=list)  # needs the run's args or CRDs switch off

    @property
    def subject(self) -> str:
        return f"system:serviceaccount:{self.epp.namespace}:{self.epp.service_account}"


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
            out += ["", "Not checked (the chart cannot be had here):"]
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


def epp_deployment(source: str, chart: str, docs: Iterable[Mapping[str, Any]], namespace: str) -> EppDeployment | None:
    """The EPP Deployment of a chart's render (its container is named `epp`), if it has one."""
    docs = list(docs)
    for doc in docs:
        pod = ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}
        container = next((c for c in pod.get("containers") or [] if c.get("name") == EPP_CONTAINER), None)
        if doc.get("kind") == "Deployment" and container:
            return EppDeployment(source, chart, str(container.get("image", "")),
                                 tuple(str(a) for a in container.get("args") or []),
                                 pod.get("serviceAccountName") or "default",
                                 (doc.get("metadata") or {}).get("namespace") or namespace,
                                 tuple(d for d in docs if d.get("kind") in RBAC_KINDS))
    return None


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
        if isinstance(step, Apply) and not step.url:
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


def _namespaces(plan: Plan, documents: Iterable[Document]) -> list[str]:
    names = [d.body["metadata"]["name"] for d in documents if d.body.get("kind") == "Namespace"]
    names += [_flag(s.argv, "--namespace") for s in plan.steps
              if isinstance(s, Command) and "--create-namespace" in s.argv]
    return list(dict.fromkeys(names))


# ---- what the EPP may do ---------------------------------------------------------------------


def load_epp_rbac(path: Path | None = None) -> dict[str, Any]:
    """config/epp-rbac.yaml: what each EPP release does (`epp`), and the known gaps (`known_gaps`)."""
    path = path or config_dir() / "epp-rbac.yaml"
    try:
        return yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None


def _permissions(need: Mapping[str, Any], namespace: str) -> list[Permission]:
    scoped = namespace if need.get("scope", "pool") == "pool" else None
    return [Permission(need["group"], need["resource"], verb, scoped) for verb in need["verbs"]]


def expected_denials(epp: EppDeployment, installed_crds: set[str], data: Mapping[str, Any]):
    """(the permissions a known gap of this chart and EPP denies, those gaps' ids and findings)."""
    denied: set[Permission] = set()
    gaps = []
    for gap in data.get("known_gaps") or []:
        if gap["chart"] == epp.chart and gap["epp"] == epp.image and gap.get("when_crd", "") in installed_crds | {""}:
            denied |= {p for need in gap["denied"] for p in _permissions(need, epp.namespace)}
            gaps.append(f"{gap['id']} ({gap['finding']})")
    return denied, gaps


def _has_flag(args: tuple[str, ...], flag: str) -> bool:
    """`--flag`, `--flag value` or `--flag=value` is in args; `--flag=value` in the data: that exactly."""
    if "=" in flag:
        return flag in args
    return any(a == flag or a.startswith(flag + "=") for a in args)


def _switched_on(args: tuple[str, ...], flag: str) -> bool:
    return _has_flag(args, flag) and not _has_flag(args, flag + "=false")


def needed_permissions(epp: EppDeployment, installed_crds: set[str], data: Mapping[str, Any]):
    """(permissions to check, needs switched off by this run's args or CRDs, where the list was read)."""
    entry = (data.get("epp") or {}).get(epp.image)
    if entry is None:
        raise ConfigError(f"config/epp-rbac.yaml has no entry for the EPP image {epp.image}: add what that "
                          "release watches and calls (read from its source), so its RBAC can be checked")
    wanted, off = [], []
    for need in entry.get("needs") or []:
        label = f"{'/'.join(need['verbs'])} {need['resource']}"
        if need.get("when_crd") and need["when_crd"] not in installed_crds:
            off.append(f"{label} (CRD {need['when_crd']} not installed)")
        elif need.get("unless_arg") and _has_flag(epp.args, need["unless_arg"]):
            off.append(f"{label} (the EPP runs with {need['unless_arg']})")
        elif need.get("when_arg") and not _switched_on(epp.args, need["when_arg"]):
            off.append(f"{label} (the EPP runs without {need['when_arg']})")
        else:
            wanted += _permissions(need, epp.namespace)
    return wanted, off, list(entry.get("read_from") or [])


def _access_review(kube: Kube, subject: str, namespace: str, permission: Permission) -> tuple[bool, str]:
    from kubernetes import client

    spec = client.V1SubjectAccessReviewSpec(
        user=subject, groups=["system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"],
        resource_attributes=client.V1ResourceAttributes(group=permission.group, resource=permission.resource,
                                                        verb=permission.verb, namespace=permission.namespace))
    review = client.AuthorizationV1Api(kube.api).create_subject_access_review(client.V1SubjectAccessReview(spec=spec))
    return bool(review.status.allowed), review.status.reason or review.status.evaluation_error or "no rule allows it"


def _delete(kube: Kube, doc: Mapping[str, Any], namespace: str) -> None:
    resource = kube._resource(doc["apiVersion"], doc["kind"])
    meta = doc.get("metadata") or {}
    try:
        resource.delete(name=meta["name"], namespace=(meta.get("namespace") or namespace) if resource.namespaced else None)
    except Exception:  # noqa: BLE001 - best effort: the API server is thrown away after the run
        pass


def check_epp_permissions(kube: Kube, epp: EppDeployment, installed_crds: set[str],
                          data: Mapping[str, Any]) -> PermissionCheck:
    """Create the render's RBAC objects, ask a SubjectAccessReview for each permission, delete them."""
    wanted, off, read_from = needed_permissions(epp, installed_crds, data)
    check = PermissionCheck(epp, read_from, not_needed=off)
    for doc in epp.rbac:
        kube.apply(dict(doc), namespace=epp.namespace)
    try:
        for permission in wanted:
            allowed, reason = _access_review(kube, check.subject, epp.namespace, permission)
            if allowed:
                check.allowed.append(permission)
            else:
                check.denied.append((permission, reason))
    finally:
        for doc in reversed(epp.rbac):
            _delete(kube, doc, epp.namespace)
    return check


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
