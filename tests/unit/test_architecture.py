"""The layers point one way (eventlog ← projections ← workers) and no modules import in a circle.

Imports inside functions and under `if TYPE_CHECKING:` count: a circle a linter
cannot see is still a circle a reader has to untangle.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import grimp
import pytest

LAYERS = ("workers", "projections", "eventlog")  # outermost first


@cache
def import_graph() -> grimp.ImportGraph:
    return grimp.build_graph(*LAYERS, cache_dir=None)


def test_no_layer_imports_an_outer_one() -> None:
    illegal = import_graph().find_illegal_dependencies_for_layers(layers=LAYERS)
    found = [f"{route.importer} -> {route.imported}: {chain}"
             for route in illegal for chain in route.routes]
    assert not found, "upward imports:\n" + "\n".join(found)


def strongly_connected(graph: grimp.ImportGraph) -> list[set[str]]:
    """Tarjan's algorithm over the module graph; components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(component)

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_circle() -> None:
    circles = strongly_connected(import_graph())
    assert not circles, "import circles:\n" + "\n".join(
        " <-> ".join(sorted(circle)) for circle in circles)


def test_circle_detection_finds_a_planted_circle() -> None:
    # Given a graph with one circle of three modules and a bystander
    graph = grimp.ImportGraph()
    for importer, imported in [("a.x", "a.y"), ("a.y", "a.z"), ("a.z", "a.x"), ("a.w", "a.x")]:
        graph.add_import(importer=importer, imported=imported)
    # Then exactly that circle is reported
    assert strongly_connected(graph) == [{"a.x", "a.y", "a.z"}]


@pytest.mark.parametrize("package", LAYERS)
def test_no_module_is_over_400_lines(package: str) -> None:
    root = Path(__file__).resolve().parents[2] / package
    long = {str(p.relative_to(root.parent)): n for p in root.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert not long, f"modules over 400 lines (split them by responsibility): {long}"


def folder_circles(graph: grimp.ImportGraph) -> list[set[str]]:
    """Circles between the folders and modules directly inside each package.

    Each package's children (its modules, and its subpackages taken whole) are
    nodes; an import anywhere inside one child of anything inside another is an
    arrow. Two folders that import each other form a circle here even when no two
    files do (the file-level check cannot see it).
    """
    modules = set(graph.modules)
    packages = {m.rsplit(".", depth)[0] for m in modules for depth in range(1, m.count(".") + 1)}
    found: list[set[str]] = []
    for package in sorted(packages):
        prefix = package + "."

        def child(module: str, prefix: str = prefix) -> str:
            return prefix + module[len(prefix):].split(".")[0]

        folded = grimp.ImportGraph()
        for module in modules:
            if module.startswith(prefix):
                folded.add_module(child(module))
                for imported in graph.find_modules_directly_imported_by(module):
                    if imported.startswith(prefix) and child(imported) != child(module):
                        folded.add_import(importer=child(module), imported=child(imported))
        found += strongly_connected(folded)
    return found


def test_no_folder_circle() -> None:
    circles = folder_circles(import_graph())
    assert not circles, "folder circles:\n" + "\n".join(
        " <-> ".join(sorted(circle)) for circle in circles)


def test_folder_circle_detection_finds_two_folders_that_import_each_other() -> None:
    # Given two folders whose files import across, one way each, and no file circle
    graph = grimp.ImportGraph()
    for importer, imported in [("p.a.x", "p.b.y"), ("p.b.z", "p.a.w"), ("p.c", "p.a.x")]:
        graph.add_import(importer=importer, imported=imported)
    assert strongly_connected(graph) == []
    # Then the two folders are reported as a circle, and the bystander is not
    assert folder_circles(graph) == [{"p.a", "p.b"}]


EDGES = ("workers/cli", "workers/api", "workers/actors")
SQL = re.compile(r"""["'](?:SELECT|INSERT|UPDATE|DELETE|WITH)\s"""
                 r"|from sqlalchemy import[^\n]*\btext\b")


@pytest.mark.parametrize("edge", EDGES)
def test_no_sql_at_the_edges(edge: str) -> None:
    # A route or a command parses, calls a service and renders: its SQL lives below it.
    root = Path(__file__).resolve().parents[2] / edge
    found = {str(p.relative_to(root.parent.parent)) for p in root.rglob("*.py")
             if SQL.search(p.read_text(encoding="utf-8"))}
    assert not found, f"SQL in the edges (move it into a service): {sorted(found)}"


def test_the_sql_check_finds_a_statement() -> None:
    assert SQL.search('conn.execute(text("SELECT 1"))')
    assert SQL.search("from sqlalchemy import Connection, text")
    assert not SQL.search('print("selected sessions")')
