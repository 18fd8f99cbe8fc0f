"""lorchestra-ops uses the target only through its table definitions and its warehouse layer.

So the target can change how it reads Singer, tallies and batches without touching the operations CLI,
and the CLI can never reach into the loader's internals. The errors module comes along: the warehouse
layer raises its exceptions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import lorchestra_ops

ALLOWED = {"target_lorchestra.tables", "target_lorchestra.warehouse", "target_lorchestra.errors"}
SOURCE = Path(lorchestra_ops.__file__).parent


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module == "target_lorchestra":
            found.update(f"target_lorchestra.{alias.name}" for alias in node.names)  # submodules
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_ops_imports_only_tables_warehouse_and_errors_from_the_target():
    sources = sorted(SOURCE.glob("*.py"))
    used = {(path.name, module) for path in sources for module in imported_modules(path)}
    from_target = {module for _, module in used if module.split(".")[0] == "target_lorchestra"}
    assert {"target_lorchestra.tables", "target_lorchestra.warehouse"} <= from_target  # the scan sees imports
    assert sorted((name, module) for name, module in used if module in from_target - ALLOWED) == []
