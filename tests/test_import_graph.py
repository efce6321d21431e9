"""No import cycles inside hidsctl/: a module that imports one that imports it back (even
from inside a function, or only for type checking) is two jobs half split. Where one side
needs the other, a typing.Protocol or a passed-in callable marks the seam instead
(transport/links.py's LinkOwner, transport/agent_link.py's LinkAgent, scan/realtime.py's
Scans)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Cycles not broken yet, each with why; the test fails once one is gone, so this list only
# shrinks. Empty now: keep it so, and break a new cycle rather than list it here.
KNOWN: dict[frozenset[str], str] = {}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(node: ast.Import | ast.ImportFrom, importer: str, is_package: bool,
             modules: set[str]) -> set[str]:
    """The hidsctl modules one import statement loads: ``from a import b`` names the
    module a.b when there is one, else a itself."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in modules}
    if node.level:  # relative: from the importer's package, up level - 1
        base = importer.split(".") if is_package else importer.split(".")[:-1]
        base = base[:len(base) - node.level + 1]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    found = set()
    for alias in node.names:
        full = f"{source}.{alias.name}"
        found.add(full if full in modules else source)
    return found & modules


def import_graph(root: Path = ROOT, package: str = "hidsctl") -> dict[str, set[str]]:
    """Every module of the package and the modules of it that it imports, anywhere in
    its text."""
    paths = {module_name(path, root): path for path in (root / package).rglob("*.py")}
    modules = set(paths)
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(), str(path))
        edges: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges |= imported(node, name, path.name == "__init__.py", modules)
        graph[name] = edges - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan's, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(frozenset(component))
    return found


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "e"}, "e": {"d"}, "f": set()}
    assert sorted(map(sorted, cycles(graph))) == [["a", "b", "c"], ["d", "e"]]


def test_function_level_type_checking_and_relative_imports_count(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from typing import TYPE_CHECKING\n"
                                  "if TYPE_CHECKING:\n    from pkg.sub.b import B\n")
    (package / "sub" / "b.py").write_text("def f():\n    from ..a import A\n")
    (package / "sub" / "c.py").write_text("import pkg.a\nfrom . import b\n")
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.a"] == {"pkg.sub.b"}
    assert graph["pkg.sub.b"] == {"pkg.a"}
    assert graph["pkg.sub.c"] == {"pkg.a", "pkg.sub.b"}
    assert cycles(graph) == [frozenset({"pkg.a", "pkg.sub.b"})]


def test_no_import_cycles_in_hidsctl() -> None:
    found = set(cycles(import_graph()))
    new = [sorted(cycle) for cycle in found - set(KNOWN)]
    assert not new, f"import cycles: {new}"
    gone = [sorted(cycle) for cycle in set(KNOWN) - found]
    assert not gone, f"no longer a cycle, remove from KNOWN: {gone}"
