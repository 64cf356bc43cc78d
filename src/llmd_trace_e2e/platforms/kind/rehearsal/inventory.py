"""Every object in a cluster, by name: what the rehearsal compares before a bring-up and after
its teardown to show the cluster was left as it was found."""
from __future__ import annotations

from typing import FrozenSet, Tuple

from llmd_trace_e2e.runtime.waits import Pending

# Objects that come and go on their own: events, heartbeats and leader leases.
VOLATILE_KINDS = {"Event", "Lease"}
Ref = Tuple[str, str, str, str]  # (group, kind, namespace, name)


def inventory(kube) -> FrozenSet[Ref]:
    """(group, kind, namespace, name) of every object of every listable resource, once per kind."""
    from kubernetes.dynamic.exceptions import NotFoundError
    from kubernetes.dynamic.resource import ResourceList

    seen_kinds: set[tuple[str, str]] = set()
    out: set[Ref] = set()
    kube.dynamic.resources.invalidate_cache()  # CRDs come and go: discovery must be fresh
    for resource in kube.dynamic.resources.search():
        verbs = getattr(resource, "verbs", None) or []
        if isinstance(resource, ResourceList) or "list" not in verbs or "/" in resource.name or resource.kind in VOLATILE_KINDS:
            continue
        key = (resource.group, resource.kind)
        if key in seen_kinds or not getattr(resource, "preferred", True):
            continue
        seen_kinds.add(key)
        try:
            items = resource.get().items
        except NotFoundError:  # its CRD went away since discovery
            continue
        for item in items:
            out.add((resource.group, resource.kind, item.metadata.namespace or "", item.metadata.name))
    return frozenset(out)


def difference(before: FrozenSet[Ref], after: FrozenSet[Ref]) -> list[str]:
    """What the teardown left behind and what it took that was there before, one line each."""
    def name(ref: Ref) -> str:
        group, kind, ns, obj = ref
        return f"{kind}{'.' + group if group else ''} {ns + '/' if ns else ''}{obj}"

    return ([f"left behind: {name(r)}" for r in sorted(after - before)]
            + [f"removed, was there before: {name(r)}" for r in sorted(before - after)])


def as_found(kube, before: FrozenSet[Ref]):
    """A probe for waits.wait_for: the cluster holds exactly what it held before."""
    def probe():
        diff = difference(before, inventory(kube))
        return True if not diff else Pending(f"{len(diff)} difference(s): " + "; ".join(diff[:8]))
    return probe
