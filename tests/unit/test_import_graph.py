"""The runtime library has no import cycle, and the remediation plugins never import the runtime.

The graph is read from the source (AST), so that an import inside a function or under
`if TYPE_CHECKING:` counts too: a lazy import hides a cycle from Python, not from a reader. The
TYPE_CHECKING edges are kept apart, so that a failure says which kind closes the cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "layers"
PACKAGE = "snapback"
# The runtime side: what a plugin must never reach.
RUNTIME_SIDE = {"snapback.runtime", "snapback.pipeline", "snapback.operations", "snapback.sweep", "snapback.notify"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(path: Path, modules: set[str]) -> tuple[set[str], set[str]]:
    """(runtime imports, TYPE_CHECKING-only imports) of one module, restricted to `modules`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    real: set[str] = set()
    typing_only: set[str] = set()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    def visit(node: ast.AST, typing: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                for stmt in child.body:
                    visit_stmt(stmt, True)
                for stmt in child.orelse:
                    visit_stmt(stmt, typing)
                continue
            visit_stmt(child, typing)

    def visit_stmt(stmt: ast.AST, typing: bool) -> None:
        found: list[str] = []
        if isinstance(stmt, ast.Import):
            found = [alias.name for alias in stmt.names]
        elif isinstance(stmt, ast.ImportFrom) and stmt.module and stmt.level == 0:
            found = [stmt.module] + [f"{stmt.module}.{alias.name}" for alias in stmt.names]
        for name in found:
            target = resolve(name)
            if target and target != module_name(path):
                (typing_only if typing else real).add(target)
        visit(stmt, typing)

    visit(tree, False)
    return real, typing_only - real


def graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    files = {module_name(p): p for p in (ROOT / PACKAGE).rglob("*.py")}
    modules = set(files)
    real: dict[str, set[str]] = {}
    typing_only: dict[str, set[str]] = {}
    for name, path in files.items():
        real[name], typing_only[name] = imports(path, modules)
    return real, typing_only


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one module (Tarjan), as sorted lists."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                strong(w)
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
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    return found


def reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_the_graph_is_read_at_all():
    real, typing_only = graph()
    assert "snapback.pipeline" in real["snapback.runtime"], "the runtime runs the pipeline"
    assert "snapback.remediation" in real["snapback.pipeline"]
    assert "snapback.remediation" in typing_only["snapback.notify"], "TYPE_CHECKING imports are seen (and kept apart)"
    assert "snapback.chatbot" in real["snapback.notify"], "imports inside functions count"


def test_no_import_cycle_among_runtime_imports():
    real, _ = graph()
    assert cycles(real) == []


def test_no_import_cycle_even_counting_type_checking_imports():
    real, typing_only = graph()
    both = {m: real[m] | typing_only[m] for m in real}
    found = cycles(both)
    assert found == [], [
        {m: sorted(typing_only[m] & set(c)) for m in c if typing_only[m] & set(c)} for c in found
    ]  # the TYPE_CHECKING edges inside each cycle


# Plugins that still name the runtime in a type annotation (TYPE_CHECKING only): none, and none may.
TYPE_ONLY_RUNTIME: set[str] = set()


def test_plugins_never_reach_the_runtime():
    real, typing_only = graph()
    both = {m: real[m] | typing_only[m] for m in real}
    plugins = ["snapback.remediation", *(m for m in both if m.startswith("snapback.remediations."))]
    typed_only = set()
    for plugin in plugins:
        reached = reachable(real, plugin) & RUNTIME_SIDE
        assert not reached, f"{plugin} imports {sorted(reached)}"
        if reachable(both, plugin) & RUNTIME_SIDE:
            typed_only.add(plugin)
    assert typed_only == TYPE_ONLY_RUNTIME, "a plugin names the runtime in its types (or the list is stale)"


@pytest.mark.parametrize(
    "edges, expected",
    [
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ],
)
def test_the_cycle_finder_finds_cycles(edges, expected):
    assert cycles(edges) == expected
