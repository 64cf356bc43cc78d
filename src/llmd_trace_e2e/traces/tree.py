"""The whole trace of a request as data: a forest of span shapes (service, name, kind, children,
counts), with what varies run to run normalized away (ids, timings, the order of siblings), held
against an expected forest (YAML under config/expected-traces/) as a whole.

An expected tree names, for each span, the component that made it (COMPONENTS: caller, gateway,
epp, routing-proxy, vllm-decode, vllm-prefill), not a service name: `resolve` turns it into the
run's service names (which the values decide, e.g. tracing.serviceNames.vllmDecode), and
`to_components` turns a tree that arrived back into components for `--update-expected-traces`.

A root says where it hangs: `caller` (on the caller's own span, from its traceparent), `none` (a
root of its own: a component that started a new trace) or `missing` (an orphan: its parent was
never exported or was dropped). Identical siblings merge into one node with a count; an expected
count of "1+" accepts any positive count, for children whose number varies (e.g. the chunks of a
stream), and survives a rewrite by `--update-expected-traces`.
"""
from __future__ import annotations

import difflib
from itertools import takewhile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import yaml

from llmd_trace_e2e.traces.model import Span

ANY_COUNT = "1+"
PARENTS = ("caller", "none", "missing")
# Who makes a span: the harness's own client (an application's SDK span), the gateway (Envoy,
# Istio), the EPP, the routing proxy (pd-sidecar), vLLM serving decode or prefill.
COMPONENTS = ("caller", "gateway", "epp", "routing-proxy", "vllm-decode", "vllm-prefill")
FORMAT = """\
# Format: `roots` lists the spans that have no parent in the tree. Each span names the
# `component` that made it: caller, gateway, epp, routing-proxy, vllm-decode or vllm-prefill
# (the test resolves each to the service name the values in effect give it), its span `name`
# and `kind`, optionally a `count` of identical siblings (an integer, or "1+" for any positive
# count) and its `children`. A root's `parent` says where it hangs: caller (on the caller's own
# span), none (a trace of its own) or missing (an orphan: its parent never arrived).
"""


@dataclass(frozen=True)
class Node:
    service: str  # the span's service.name; in an expected tree as loaded, the component (see resolve)
    name: str
    kind: str
    count: int | str = 1  # an int, or ANY_COUNT in expected data
    children: tuple["Node", ...] = ()
    parent: str | None = None  # roots only: one of PARENTS

    @property
    def key(self) -> tuple[str, str, str]:
        return self.service, self.name, self.kind

    def lines(self, depth: int = 0) -> list[str]:
        count = "" if self.count == 1 else f" x{self.count}"
        hangs = f"  (parent: {self.parent})" if self.parent else ""
        out = [f"{'  ' * depth}{self.service} :: {self.name} [{self.kind}]{count}{hangs}"]
        for child in self.children:
            out += child.lines(depth + 1)
        return out


def _canonical(nodes: Iterable[Node]) -> tuple[Node, ...]:
    """Siblings in a stable order, identical ones merged into one node with their summed count."""
    merged: dict[tuple, Node] = {}
    for node in nodes:
        same = (node.key, node.parent, node.children)
        if same in merged and isinstance(node.count, int) and isinstance(merged[same].count, int):
            merged[same] = replace(merged[same], count=merged[same].count + node.count)
        else:
            merged.setdefault(same, node)
    return tuple(sorted(merged.values(), key=lambda n: (n.parent or "", n.key, "\n".join(n.lines()))))


def forest(spans: Sequence[Span], caller_span_id: str | None = None) -> tuple[Node, ...]:
    """The shape of these spans (one request's, from one or several traces)."""
    present = {(s.trace_id, s.span_id) for s in spans}

    def build(span: Span, parent: str | None = None) -> Node:
        kids = [build(c) for c in spans if c.trace_id == span.trace_id and c.parent_span_id == span.span_id]
        return Node(span.service, span.name, span.kind, 1, _canonical(kids), parent)

    roots = []
    for span in spans:
        if span.parent_span_id and (span.trace_id, span.parent_span_id) in present:
            continue
        hangs = "none" if not span.parent_span_id else "caller" if span.parent_span_id == caller_span_id else "missing"
        roots.append(build(span, hangs))
    return _canonical(roots)


def render(nodes: Sequence[Node]) -> list[str]:
    return [line for node in nodes for line in node.lines()] or ["(no spans)"]


def _reconcile(expected: Sequence[Node], actual: Sequence[Node]) -> tuple[Node, ...]:
    """`actual`, with ANY_COUNT wherever the expected node at the same place allows any count."""
    pool = list(expected)
    out = []
    for node in actual:
        match = next((e for e in pool if (e.key, e.parent) == (node.key, node.parent)), None)
        if match is None:
            out.append(node)
            continue
        pool.remove(match)
        count = ANY_COUNT if match.count == ANY_COUNT and isinstance(node.count, int) and node.count >= 1 else node.count
        out.append(replace(node, count=count, children=_reconcile(match.children, node.children)))
    return _canonical(out)


@dataclass(frozen=True)
class TreeComparison:
    expected: tuple[Node, ...]
    actual: tuple[Node, ...]  # reconciled with the expected counts
    differences: tuple[str, ...] = field(default=())

    @property
    def matches(self) -> bool:
        return not self.differences

    def side_by_side(self, width: int = 70) -> str:
        """The expected tree beside the tree that arrived, differing lines marked."""
        left, right = render(self.expected), render(self.actual)
        rows = [f"  {'expected'.ljust(width)} | arrived", f"  {'-' * width} | {'-' * width}"]
        for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=left, b=right, autojunk=False).get_opcodes():
            a, b = left[i1:i2], right[j1:j2]
            for k in range(max(len(a), len(b))):
                la, lb = (a[k] if k < len(a) else ""), (b[k] if k < len(b) else "")
                mark = " " if op == "equal" else "!"
                rows.append(f"{mark} {la[:width].ljust(width)} | {lb}")
        return "\n".join(rows)


def compare(expected: Sequence[Node], actual: Sequence[Node]) -> TreeComparison:
    expected = _canonical(expected)
    actual = _reconcile(expected, _canonical(actual))
    left, right = render(expected), render(actual)
    diff = tuple(line for line in difflib.unified_diff(left, right, "expected", "arrived", lineterm="", n=0)
                 if line[:1] in "+-" and not line.startswith(("+++", "---")))
    return TreeComparison(expected, actual, diff)


# --- components and services ---------------------------------------------------------------------

def not_exporting(component: str) -> str:
    """What stands for a component's service where the values in effect leave it no spans."""
    return f"({component}: no spans under these values)"


def resolve(nodes: Sequence[Node], services: Mapping[str, str | None]) -> tuple[Node, ...]:
    """An expected tree (components) as this run's services."""
    def one(node: Node) -> Node:
        service = services.get(node.service)
        return replace(node, service=service or not_exporting(node.service), children=_canonical(map(one, node.children)))

    return _canonical(map(one, nodes))


def to_components(nodes: Sequence[Node], services: Mapping[str, str | None]) -> tuple[Node, ...]:
    """A tree that arrived, with each span's service replaced by the component that exports under
    it; ValueError (one line) for a service no component, or more than one, exports under."""
    owners: dict[str, list[str]] = {}
    for component, service in services.items():
        if service:
            owners.setdefault(service, []).append(component)
    known = ", ".join(f"{c}={s}" for c, s in services.items() if s)

    def one(node: Node) -> Node:
        found = owners.get(node.service, [])
        if len(found) != 1:
            why = (f"both {' and '.join(found)} export under it: give them different service names"
                   if found else f"no component of this run exports under it ({known})")
            raise ValueError(f"cannot record span {node.name!r} of service {node.service!r}: {why}")
        return replace(node, service=found[0], children=_canonical(map(one, node.children)))

    return _canonical(map(one, nodes))


# --- as data ------------------------------------------------------------------------------------

def to_data(node: Node) -> dict[str, Any]:
    """A node of an expected tree (its `service` a component) as YAML data."""
    data: dict[str, Any] = {}
    if node.parent:
        data["parent"] = node.parent
    data.update(component=node.service, name=node.name, kind=node.kind)
    if node.count != 1:
        data["count"] = node.count
    if node.children:
        data["children"] = [to_data(c) for c in node.children]
    return data


def from_data(data: Mapping[str, Any], where: str, root: bool = True) -> Node:
    """One node from YAML (its `service` the component); ValueError names the file and the fix."""
    if "service" in data and "component" not in data:
        raise ValueError(f"{where}: span {data.get('name', '?')!r} names the service {data['service']!r}; an expected "
                         f"tree names the component that made it instead (component: one of {', '.join(COMPONENTS)})")
    missing = [k for k in ("component", "name", "kind") if k not in data]
    if missing:
        raise ValueError(f"{where}: a span without {', '.join(missing)}: {dict(data)}")
    component = str(data["component"])
    if component not in COMPONENTS:
        raise ValueError(f"{where}: span {data['name']!r} names the unknown component {component!r}: "
                         f"use one of {', '.join(COMPONENTS)}")
    parent = data.get("parent")
    if root and parent not in PARENTS:
        raise ValueError(f"{where}: root {component}:{data['name']} needs parent: one of {', '.join(PARENTS)}")
    count = data.get("count", 1)
    if not (count == ANY_COUNT or (isinstance(count, int) and count >= 1)):
        raise ValueError(f"{where}: count of {component}:{data['name']} must be a positive integer or "
                         f"'{ANY_COUNT}', not {count!r}")
    kids = tuple(from_data(c, where, root=False) for c in data.get("children") or [])
    return Node(component, str(data["name"]), str(data["kind"]), count, kids, parent if root else None)


@dataclass(frozen=True)
class ExpectedTrace:
    path: Path
    header: str  # the file's leading comment, kept on rewrite
    request: str  # which request it is the trace of (a key the test knows)
    roots: tuple[Node, ...]  # nodes name components: resolve() them to a run's services


def load_expected(path: Path) -> ExpectedTrace:
    text = path.read_text()
    doc = yaml.safe_load(text) or {}
    if not isinstance(doc, Mapping) or not isinstance(doc.get("roots"), list):
        raise ValueError(f"{path}: expected a mapping with a `roots` list (rewrite it with --update-expected-traces)")
    header = "".join(takewhile(lambda line: line.startswith("#"), text.splitlines(keepends=True)))
    return ExpectedTrace(path, header, str(doc.get("request", "completion")),
                         _canonical(from_data(r, str(path)) for r in doc["roots"]))


def write_expected(path: Path, roots: Sequence[Node], *, request: str, header: str = "") -> None:
    """Write an expected tree (`roots` name components: see to_components)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = yaml.safe_dump({"request": request, "roots": [to_data(r) for r in _canonical(roots)]},
                          sort_keys=False, width=120)
    path.write_text((header.rstrip("\n") + "\n" if header else "") + body)
