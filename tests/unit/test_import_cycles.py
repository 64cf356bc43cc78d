"""No import cycles among the library's modules. Every import counts, wherever it is written: at
the top, inside a function (a deferred import is still a dependency) or under TYPE_CHECKING.
Read from the source with `ast`, nothing is imported."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "llmd_trace_e2e"
ROOT = Path(__file__).resolve().parents[2] / "src" / PACKAGE


def module_name(path: Path) -> str:
    parts = (PACKAGE, *path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def imports(name: str, path: Path, known: set[str]) -> dict[str, int]:
    """The package's modules that `name` imports, each with the line of its first import."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import mod` depends on pkg.mod when that is a module, else on pkg itself
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import a.b.c` of a name inside a module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.setdefault(target, node.lineno)
    return found


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def import_graph() -> dict[str, dict[str, int]]:
    found = modules()
    return {name: imports(name, path, set(found)) for name, path in found.items()}


def test_the_library_has_no_import_cycle():
    graph = import_graph()
    paths = modules()
    problems = []
    for component in cycles(graph):
        edges = [f"    {a} -> {b} ({paths[a].relative_to(ROOT.parent.parent)}:{graph[a][b]})"
                 for a in component for b in sorted(graph[a]) if b in component]
        problems.append(f"cycle among {', '.join(component)}:\n" + "\n".join(edges))
    assert not problems, ("import cycles (move the shared part into a module both can import, or pass "
                          "the dependency in):\n" + "\n".join(problems))


def test_the_cycle_finder_finds_a_cycle():
    """The positive control: a cycle of three and one of two are found, a chain is not."""
    graph = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"e": 1}, "e": {"d": 1}, "f": {"a": 1}}
    assert cycles(graph) == [["a", "b", "c"], ["d", "e"]]
    assert cycles({"a": {"b": 1}, "b": {}}) == []


def test_imports_are_resolved_to_the_packages_modules():
    """Deferred and TYPE_CHECKING imports count (diagnose.py and pipeline.py once imported each
    other that way), and so would relative ones."""
    graph = import_graph()
    assert f"{PACKAGE}.runtime.diagnose" in graph[f"{PACKAGE}.platforms.local.pipeline"]
    assert f"{PACKAGE}.platforms.local.pipeline" in graph[f"{PACKAGE}.platforms.local.diagnosis"]  # under TYPE_CHECKING
    assert f"{PACKAGE}.platforms.local.platform" in graph[f"{PACKAGE}.commands.bench.run"]  # inside a function
    assert f"{PACKAGE}.commands.bench.cli" in graph[f"{PACKAGE}.commands.bench"]  # in __init__
