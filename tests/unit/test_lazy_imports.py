"""Imports inside functions: only of the heavy modules that coinlstm.core.lazy_imports lists
(with the reason each is there), so that every other dependency of a module shows at its top,
where the import contract (lint-imports) and a reader see it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from coinlstm.core.lazy_imports import HEAVY_MODULES, is_heavy

REPO = Path(__file__).resolve().parents[2]
#: The package code held to the rule. The application's own; the lower layers join as their
#: function-local imports go (their heavy ones listed in HEAVY_MODULES).
CHECKED = ("coinlstm/app",)


def function_local_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import statement inside a function of ``path``."""
    found = []
    for function in ast.walk(ast.parse(path.read_text())):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.Import):
                found += [(node.lineno, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                found.append((node.lineno, "." * node.level + (node.module or "")))
    return found


@pytest.mark.parametrize("package", CHECKED)
def test_functions_import_only_heavy_modules(package):
    offenders = [f"{path.relative_to(REPO)}:{line}: {module}"
                 for path in sorted((REPO / package).rglob("*.py"))
                 for line, module in function_local_imports(path) if not is_heavy(module)]
    assert offenders == [], "import these at the top of the module (or measure and list "\
                            "them in coinlstm/core/lazy_imports.py): " + ", ".join(offenders)


def test_the_rule_sees_a_function_local_import(tmp_path):
    module = tmp_path / "module.py"
    module.write_text("import os\n\ndef f():\n    from coinlstm import db\n    import jax\n")
    assert function_local_imports(module) == [(4, "coinlstm"), (5, "jax")]
    assert [is_heavy(name) for name in ("coinlstm", "jax", "jax._src", "jaxlib")] == [
        False, True, True, False]
    assert "matplotlib" in HEAVY_MODULES
