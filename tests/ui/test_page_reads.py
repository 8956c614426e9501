"""The dashboard's pages render records read by the stage that owns the tables: no page
runs SQL itself (issue #14: one persistence path, no SQL in the dashboard)."""

from __future__ import annotations

import ast
from pathlib import Path

import lockgate.ui.pages

PAGES = Path(lockgate.ui.pages.__file__).parent
#: Modules a page may not import: raw SQL and the tables it would run on.
SQL = ("sqlalchemy", "lockgate.store.schema", "lockgate.store.tables_")


def sql_in(folder: Path) -> list[str]:
    """``page.py:line what`` for every SQL import or ``.read()`` / ``.write()`` call."""
    found = []
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                names = [base, *(f"{base}.{a.name}" for a in node.names)]
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr in ("read", "write", "execute_write")
                  and not node.args and isinstance(node.func.value, ast.Name)
                  and node.func.value.id == "store"):
                found.append(f"{path.name}:{node.lineno} store.{node.func.attr}()")
            found += [f"{path.name}:{node.lineno} {n}" for n in names
                      if n.startswith(SQL)]
    return found


def test_no_page_runs_sql() -> None:
    assert sql_in(PAGES) == []


def test_no_dashboard_module_runs_sql() -> None:
    """The whole dashboard package, routes and the runs-table query included: the runs
    query lives in the store (``store/run_query.py``) beside the filter language."""
    ui = PAGES.parent
    found = [hit for folder in (ui, *(p for p in ui.iterdir() if p.is_dir()))
             for hit in sql_in(folder)]
    assert found == []
