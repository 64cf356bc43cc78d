"""What an EPP release asks the Kubernetes API for (config/epp-rbac.yaml, read from each release's
source), and whether its chart's RBAC grants it: SubjectAccessReviews as the EPP Deployment's
ServiceAccount against the chart's own Role, RoleBinding and ServiceAccount, really created
(a review reads stored RBAC) and deleted again afterwards.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.runtime.paths import config_dir
from llmd_trace_e2e.runtime.waits import Pending, wait_for
from llmd_trace_e2e.platforms.kind.kube import Kube

RBAC_KINDS = ("ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")
EPP_CONTAINER = "epp"
RBAC_PROPAGATION_S = 10.0


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
    """(the permissions a known gap of this chart (and EPP, where the gap names one) denies, those
    gaps' ids and findings). Of these, a check expects the ones it asked for."""
    denied: set[Permission] = set()
    gaps = []
    for gap in data.get("known_gaps") or []:
        if gap["chart"] == epp.chart and gap.get("epp", epp.image) == epp.image \
                and gap.get("when_crd", "") in installed_crds | {""}:
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


def _granted_sample(epp: EppDeployment) -> Permission | None:
    """One permission the render's own Roles grant, to tell when the authorizer has seen them."""
    for doc in epp.rbac:
        if doc.get("kind") not in ("Role", "ClusterRole"):
            continue
        for rule in doc.get("rules") or []:
            groups, resources, verbs = rule.get("apiGroups") or [], rule.get("resources") or [], rule.get("verbs") or []
            if groups and resources and verbs and "*" not in groups + resources + verbs:
                namespace = epp.namespace if doc["kind"] == "Role" else None
                return Permission(groups[0], resources[0], verbs[0], namespace)
    return None


def _until_authorizer_sees(kube: Kube, check: PermissionCheck, sample: Permission | None, allowed: bool) -> None:
    """RBAC objects reach the authorizer through a watch, a moment after they are written."""
    if sample is None:
        return

    def probe():
        now = _access_review(kube, check.subject, check.epp.namespace, sample)[0]
        return True if now == allowed else Pending(f"{sample}: {'allowed' if now else 'denied'}")
    wait_for(f"the authorizer to see the EPP's RBAC {'created' if allowed else 'deleted'}", probe, RBAC_PROPAGATION_S)


def check_epp_permissions(kube: Kube, epp: EppDeployment, installed_crds: set[str],
                          data: Mapping[str, Any]) -> PermissionCheck:
    """Create the render's RBAC objects, ask a SubjectAccessReview for each permission, delete them."""
    wanted, off, read_from = needed_permissions(epp, installed_crds, data)
    check = PermissionCheck(epp, read_from, not_needed=off)
    sample = _granted_sample(epp)
    for doc in epp.rbac:
        kube.apply(dict(doc), namespace=epp.namespace)
    try:
        _until_authorizer_sees(kube, check, sample, allowed=True)
        for permission in wanted:
            allowed, reason = _access_review(kube, check.subject, epp.namespace, permission)
            if allowed:
                check.allowed.append(permission)
            else:
                check.denied.append((permission, reason))
    finally:
        for doc in reversed(epp.rbac):  # the next check starts from no grants
            kube.delete(dict(doc), namespace=epp.namespace)
    _until_authorizer_sees(kube, check, sample, allowed=False)
    return check
