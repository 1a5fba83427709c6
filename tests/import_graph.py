"""The import graph of shared/eneo: its cycles between packages and between modules, read from the source.

Every `import eneo...` / `from eneo... import` counts, at the top of a module, inside a function (a lazy
import) or under TYPE_CHECKING: each ties two modules together whenever it runs. Packages are the first
level below `eneo` (`eneo.models`, the registry of every ORM table, counts as one of them). Printed:

* the packages' strongly connected components (a set of packages each reachable from every other) with
  every import, then without the imports of ORM tables (`eneo.<package>.models`, `eneo.models`): tables
  refer to each other by foreign keys, which is the schema, not an order of the code;
* the modules' strongly connected components, each with the imports that close it.

tests/unit/test_import_layers.py reads the graph from here and holds the order the packages must keep;
run as a script, this prints the report.

Run:  .venv/bin/python -m tests.import_graph
"""

from __future__ import annotations

import ast
import functools
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_ROOT = ROOT / "shared" / "eneo"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(tree: ast.AST) -> Iterator[str]:
    """Every dotted name an import statement brings in (`from a.b import c` gives `a.b.c`)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


@functools.cache
def module_graph() -> dict[str, set[str]]:
    """Module -> the eneo modules it imports (a `from package import name` resolves to the module when
    `name` is one, else to the package)."""
    modules = {module_name(p): p for p in PACKAGE_ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for imported in imported_names(ast.parse(path.read_text(), str(path))):
            if not imported.startswith("eneo."):
                continue
            target = imported if imported in modules else imported.rpartition(".")[0]
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                graph[name].add(target)
        graph.setdefault(name, set())
    return graph


def package_of(module: str) -> str:
    return module.split(".")[1] if module.count(".") else module


def is_table_module(module: str) -> bool:
    return module == "eneo.models" or module.endswith(".models")


def package_graph(modules: dict[str, set[str]], *, tables: bool) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for source, targets in modules.items():
        if package_of(source) == "eneo":
            continue
        graph.setdefault(package_of(source), set())
        for target in targets:
            if package_of(target) not in ("eneo", package_of(source)) and (tables or not is_table_module(target)):
                graph[package_of(source)].add(package_of(target))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def main() -> int:
    modules = module_graph()
    for tables in (True, False):
        packages = package_graph(modules, tables=tables)
        components = cycles(packages)
        in_cycles = sum(len(c) for c in components)
        label = "every import" if tables else "without ORM tables"
        print(f"packages, {label}: {in_cycles} of {len(packages)} in {len(components)} cycle(s)")
        for component in components:
            print("  " + " <-> ".join(component))
    components = cycles(modules)
    print(f"modules: {sum(len(c) for c in components)} of {len(modules)} in {len(components)} cycle(s)")
    for component in components:
        members = set(component)
        edges = sorted(f"{a} -> {b}" for a in component for b in modules[a] if b in members)
        print(f"  {len(component)} modules: " + "; ".join(edges[:12]) + (" ..." if len(edges) > 12 else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
