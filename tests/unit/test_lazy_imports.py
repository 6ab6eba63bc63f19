"""Function-local imports in package code name only the modules coinlstm/core/lazy_imports.py
lists (an import inside ``if TYPE_CHECKING:`` is not one)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from coinlstm.core.lazy_imports import HEAVY_MODULES, is_heavy

REPO = Path(__file__).resolve().parents[2]
#: The packages whose function-local imports are checked. The schema revisions are frozen
#: history and keep their imports as written.
CHECKED = ("coinlstm/app", "coinlstm/core", "coinlstm/db", "crawl", "train", "predict")
FROZEN = "coinlstm/db/revisions/versions"


def function_local_imports(source: str) -> list[tuple[int, str]]:
    """(line, module) of every import below the top level of ``source``, except those in an
    ``if TYPE_CHECKING:`` block."""
    tree = ast.parse(source)
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for child in ast.walk(node))
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped or getattr(node, "col_offset", 0) == 0:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            # ``from train.steps import compiled`` imports train.steps.compiled
            found += [(node.lineno, name if is_heavy(name) else node.module) for name in names]
    return found


def test_the_scanner_sees_local_imports_and_skips_type_checking():
    source = ("from typing import TYPE_CHECKING\nimport os\nif TYPE_CHECKING:\n"
              "    import json\n\ndef f():\n    import scipy.stats\n"
              "    from train.steps import compiled\n    from crawl import replay\n")
    assert function_local_imports(source) == [
        (7, "scipy.stats"), (8, "train.steps.compiled"), (9, "crawl")]


@pytest.mark.parametrize("package", CHECKED)
def test_function_local_imports_are_listed_as_heavy(package):
    unlisted = [f"{path.relative_to(REPO)}:{line}: {module}"
                for path in sorted((REPO / package).rglob("*.py"))
                if FROZEN not in path.as_posix()
                for line, module in function_local_imports(path.read_text())
                if not is_heavy(module)]
    assert unlisted == [], "import these at the top, or list them in HEAVY_MODULES"


def test_every_listed_module_is_imported_lazily_somewhere():
    """A name nobody imports lazily any more is dropped from the list."""
    lazy = {module for package in CHECKED
            for path in (REPO / package).rglob("*.py")
            for _, module in function_local_imports(path.read_text())}
    unused = [name for name in HEAVY_MODULES
              if not any(module == name or module.startswith(name + ".") for module in lazy)]
    assert unused == []
