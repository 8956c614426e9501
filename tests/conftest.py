"""Shared fixtures: isolated settings on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from lockgate.config import Settings

PG_ADMIN_URL = os.environ.get(
    "LOCKGATE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def make_settings(home: Path, db_url: str | None = None) -> Settings:
    """Settings rooted in a temp folder, with fast heartbeats for liveness tests."""
    return Settings(
        home=home, db_url=db_url, heartbeat_seconds=0.5, hardware_seconds=0.5,
        metric_flush_seconds=0.2,
    )


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs in its own folder with no LOCKGATE_* settings leaking in."""
    for key in list(os.environ):
        if key.startswith("LOCKGATE_") and key != "LOCKGATE_TEST_PG_URL":
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings on a fresh SQLite store in a temp folder."""
    return make_settings(tmp_path / ".lockgate")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    schema = f"lg_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is not reachable: {exc}")
    yield f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"
    # Close this test's pooled connections: a suite of PostgreSQL tests would otherwise
    # hold idle connections to every schema it made and exhaust max_connections.
    from lockgate.store import Store

    Store.close_all(schema)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings on SQLite and, in a second run of the test, on PostgreSQL."""
    if request.param == "sqlite":
        return make_settings(tmp_path / ".lockgate")
    return make_settings(tmp_path / ".lockgate", request.getfixturevalue("pg_url"))
