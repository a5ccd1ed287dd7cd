"""The import floors of docs/architecture.md hold: the import-linter contracts in pyproject.toml
are kept, every module of portal/ stands on a floor, and no import cycle hides anywhere,
function-local imports included (grimp reads every import statement, in function bodies too)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import grimp
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"

# The factory (portal/__init__.py) imports every floor inside its register_* steps, to build the
# app; nothing imports it back but the CLI and the demo, which build apps. It is the one module
# whose imports may close a loop, so the cycle check leaves its own imports out.
FACTORY = "portal"


def _graph() -> grimp.ImportGraph:
    return grimp.build_graph("portal", exclude_type_checking_imports=True, cache_dir=None)


def _floors() -> list[set[str]]:
    contracts = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]
    (floors,) = [c for c in contracts if c["id"] == "floors"]
    return [{name.strip() for name in layer.split(":")} for layer in floors["layers"]]


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
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
    return found


def test_import_contracts_are_kept():
    assert lint_imports(config_filename=str(PYPROJECT), no_cache=True) == 0


def test_every_module_stands_on_exactly_one_floor():
    graph = _graph()
    # A package with modules under it cannot be a layer itself (its modules are); its
    # __init__ is checked through the packages-wide contracts.
    modules = {m for m in graph.modules if not graph.find_children(m)}
    floors = _floors()
    placed = [m for floor in floors for m in floor]
    assert sorted(modules - set(placed)) == [], "add these modules to a floor in pyproject.toml"
    assert sorted(set(placed) - modules) == [], "these floor entries name no module"
    assert len(placed) == len(set(placed))


def test_no_import_cycle_hides_in_function_bodies():
    graph = _graph()
    edges = {
        module: set(graph.find_modules_directly_imported_by(module))
        for module in graph.modules
        if module != FACTORY
    }
    assert _cycles(edges) == []


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
