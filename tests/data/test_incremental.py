"""Incremental SQL extraction by a watermark column, with upserts through Delta MERGE,
on real SQLite and PostgreSQL databases."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from lockgate.config import Settings
from lockgate.data import ColumnSpec, Contract, ContractError, ingest, read, versions
from lockgate.data.ingestion import IngestOptions
from lockgate.data.source import SqlSource

CUSTOMERS = Contract(
    "customers", "1",
    (ColumnSpec("id", "int", nullable=False), ColumnSpec("plan", "category"),
     ColumnSpec("updated_at", "datetime", nullable=False)),
    primary_key=("id",), event_time="updated_at")
T0 = dt.datetime(2025, 1, 1, 12, 0, 0)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'src.db'}"
    return request.getfixturevalue("pg_url")


def _write(url: str, rows: list[tuple[int, str, dt.datetime]], *, create: bool = False) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        if create:
            conn.execute(sa.text("CREATE TABLE crm (id INTEGER PRIMARY KEY, plan TEXT, "
                                 "updated_at TIMESTAMP NOT NULL)"))
        for row in rows:
            conn.execute(sa.text("DELETE FROM crm WHERE id = :id"), {"id": row[0]})
            conn.execute(sa.text("INSERT INTO crm VALUES (:id, :plan, :at)"),
                         {"id": row[0], "plan": row[1], "at": row[2]})
    engine.dispose()


def test_incremental_extraction_and_upsert(settings: Settings, db_url: str) -> None:
    minute = dt.timedelta(minutes=1)
    _write(db_url, [(1, "basic", T0), (2, "basic", T0 + minute), (3, "pro", T0 + minute)],
           create=True)
    source = SqlSource(db_url, "SELECT id, plan, updated_at FROM crm", watermark="updated_at")
    upsert = IngestOptions(mode="upsert")
    first = ingest(source, "customers", CUSTOMERS, settings=settings, options=upsert)
    assert (first.ingested, first.accepted) == (3, 3)
    # Nothing changed: the boundary rows (at the last watermark) are read again and
    # skipped as copies; nothing is quarantined, no duplicate lands.
    again = ingest(source, "customers", settings=settings, options=upsert)
    assert (again.accepted, again.quarantined, again.deduplicated) == (0, 0, 2)
    # A row written at the very last watermark instant is not missed (inclusive)...
    _write(db_url, [(4, "basic", T0 + minute), (2, "pro", T0 + 5 * minute)])
    third = ingest(source, "customers", settings=settings, options=upsert)
    assert (third.accepted, third.updated, third.quarantined) == (2, 1, 0)
    latest = read("customers", settings=settings).sort("id")
    assert latest["id"].to_list() == [1, 2, 3, 4]
    assert latest.filter(latest["id"] == 2)["plan"].item() == "pro"
    # ...and the row as it was stays readable by time travel.
    before = read("customers", version=third.version - 1, settings=settings)
    assert before.filter(before["id"] == 2)["plan"].item() == "basic"
    marks = [v.details.get("incremental", {}).get("watermark") for v in
             versions("customers", settings=settings)]
    # PostgreSQL returns a timestamp (bound back as one); SQLite's text compares as text.
    assert marks[-1]["kind"] == ("datetime" if db_url.startswith("postgresql") else "str")
    assert marks[-1]["value"].replace("T", " ").startswith("2025-01-01 12:05:00")


def test_an_update_without_upsert_is_a_duplicate_not_a_silent_drop(settings: Settings,
                                                                   tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'src.db'}"
    _write(url, [(1, "basic", T0)], create=True)
    source = SqlSource(url, "SELECT * FROM crm", watermark="updated_at")
    ingest(source, "customers", CUSTOMERS, settings=settings)
    _write(url, [(1, "pro", T0 + dt.timedelta(hours=1))])
    result = ingest(source, "customers", settings=settings)
    assert result.reasons == {"duplicate:id": 1}


def test_incremental_needs_a_primary_key(settings: Settings, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'src.db'}"
    _write(url, [(1, "basic", T0)], create=True)
    keyless = CUSTOMERS.with_changes(primary_key=(), event_time=None)
    with pytest.raises(ContractError, match="needs a primary_key"):
        ingest(SqlSource(url, "SELECT * FROM crm", watermark="updated_at"), "customers",
               keyless, settings=settings)
    with pytest.raises(Exception, match="plain column name"):
        SqlSource(url, "SELECT 1", watermark="x; DROP TABLE crm")
