"""The dashboard's pages render records read by the stage that owns the tables: no page
runs SQL itself (issue #14: one persistence path, no SQL in the dashboard)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import lockgate.ui.pages
from lockgate.config import Settings

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


def broad_excepts(folder: Path) -> list[str]:
    """``module.py:line`` for every ``except:``, ``except Exception`` or
    ``except BaseException`` (alone or in a tuple) under ``folder``."""
    broad = {"Exception", "BaseException"}
    found = []
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ExceptHandler):
                continue
            kinds = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
            if node.type is None or any(isinstance(k, ast.Name) and k.id in broad
                                        for k in kinds):
                found.append(f"{path.relative_to(folder)}:{node.lineno}")
    return found


def test_no_dashboard_failure_is_hidden_by_a_broad_except() -> None:
    """A page catches the errors it can explain (and shows them); anything else is a bug
    that reaches the error handler instead of rendering as a normal page."""
    assert broad_excepts(PAGES.parent) == []


def test_drift_without_the_quality_stage_says_so(monkeypatch: pytest.MonkeyPatch,
                                                  settings: Settings) -> None:
    import sys

    import polars as pl

    from lockgate.data import ingest
    from lockgate.data.inference import infer_contract
    from lockgate.store import Store
    from lockgate.ui.pages.data import render_drift

    first = pl.DataFrame({"id": [1, 2], "x": [0.1, 0.2]})
    contract = infer_contract(first, "drifty", primary_key=["id"]).contract
    base = ingest(first, "drifty", contract, settings=settings)
    current = ingest(pl.DataFrame({"id": [3, 4], "x": [0.3, 0.4]}), "drifty", contract,
                     settings=settings)
    monkeypatch.setitem(sys.modules, "lockgate.quality.stored_profile", None)
    assert base.dataset_version is not None and current.dataset_version is not None
    html = render_drift(Store.open(settings), settings, "drifty", base.dataset_version.version,
                        current.dataset_version.version)
    assert "Drift needs the quality stage" in html
