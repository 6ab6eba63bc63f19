"""No two modules of the package code import each other, however indirectly: every import
counts, those under ``if TYPE_CHECKING:`` and inside functions included. ``lint-imports``
checks the layers, but not a cycle inside one layer (``train.config`` and ``train.models``,
both in ``train``)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import REPO

PACKAGES = ("coinlstm", "crawl", "train", "predict")


def modules(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Dotted name -> file of every module below ``root``'s ``packages``."""
    found = {}
    for package in packages:
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported(name: str, path: Path) -> list[str]:
    """Every module name an import of the module ``name`` (at ``path``) may load: ``import
    a.b``'s ``a.b``, ``from a import b``'s ``a.b`` (a module, or a name in ``a``), relative
    imports resolved."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package[:len(package) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names += [f"{base}.{alias.name}" for alias in node.names]
    return names


def import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    """Module -> the modules of ``packages`` it imports (the longest known prefix of each
    imported name: ``from a import b`` of a name b in ``a`` is an import of ``a``)."""
    known = modules(root, packages)
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for target in imported(name, path):
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The modules of each cycle (strongly connected component of more than one module),
    sorted; Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        while work:
            node, targets = work[-1]
            target = next(targets, None)
            if target is not None:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    work.append((target, iter(sorted(graph[target]))))
                elif target in stack:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while (member := stack.pop()) != node:
                    component.append(member)
                if component:
                    found.append(sorted([node, *component]))
    return sorted(found)


def test_the_scanner_sees_a_cycle_through_type_checking_and_relative_imports(tmp_path):
    files = {
        "pkg/__init__.py": "",
        "pkg/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                    "    from pkg.b import B\n",
        "pkg/b.py": "from .c import C\n",
        "pkg/c.py": "def f():\n    from pkg import a\n",
        "pkg/d.py": "import pkg.a\nfrom pkg.a import name_in_a\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = import_graph(tmp_path, ("pkg",))
    assert graph["pkg.d"] == {"pkg.a"} and graph["pkg.b"] == {"pkg.c"}
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_no_module_cycle_in_the_package_code():
    assert cycles(import_graph(REPO, PACKAGES)) == []
