"""The package's import graph has no cycles (the layers are checked by ``lint-imports``).

The layers contract in ``pyproject.toml`` keeps each layer importing only those below it;
inside a layer, modules could still import each other in a ring. This test builds the
graph of every ``klpcheck`` import, the ones inside functions included, and requires it to
be acyclic.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parent.parent / "klpcheck"


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> nx.DiGraph:
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [node.module] + [
                    f"{node.module}.{a.name}" for a in node.names
                ]
            for target in targets:
                if target in modules and target != name:
                    graph.add_edge(name, target)
    return graph


def test_no_module_of_the_package_imports_itself_back() -> None:
    graph = import_graph()
    # The package root re-exports the public API and is imported by nothing inside.
    assert [m for m in graph.predecessors("klpcheck") if m != "klpcheck.__main__"] == []
    cycles = list(nx.simple_cycles(graph.subgraph(set(graph) - {"klpcheck"})))
    assert cycles == []


def test_the_graph_sees_imports_inside_functions() -> None:
    graph = import_graph()
    assert graph.has_edge("klpcheck.api", "klpcheck.search.explore")
    assert graph.has_edge(
        "klpcheck.gate.runner", "klpcheck.api"
    )  # imported in a function
