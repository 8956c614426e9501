"""Data: the tables, one table's versions, one version's checks, drift between versions."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from lockgate.ui.dashboard import DashboardDep
from lockgate.ui.pages import data

router = APIRouter()


@router.get("/data", response_class=HTMLResponse)
def data_page(dash: DashboardDep) -> str:
    """Every versioned table."""
    return data.render_tables(dash.store)


@router.get("/data/{table}", response_class=HTMLResponse)
def table_page(table: str, dash: DashboardDep) -> str:
    """One table's versions."""
    return data.render_table(dash.store, table)


@router.get("/data/{table}/v/{version}", response_class=HTMLResponse)
def version_page(table: str, version: int, dash: DashboardDep) -> str:
    """One version: rows accounted for, checks, quarantine reasons."""
    return data.render_version(dash.store, table, version)


@router.get("/data/{table}/drift", response_class=HTMLResponse)
def drift_page(table: str, base: int, current: int, dash: DashboardDep) -> str:
    """Drift of ``current`` against ``base``."""
    return data.render_drift(dash.store, dash.settings, table, base, current)
