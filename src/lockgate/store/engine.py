"""Engines for the metadata store: SQLite tuned for many writers, or PostgreSQL.

SQLite runs in WAL mode with a busy timeout, and every write transaction starts
with ``BEGIN IMMEDIATE`` so that a reader never has to upgrade to a writer mid
transaction, which is the case SQLite answers with "database is locked" at once
instead of waiting. Engines are disposed in forked children so a pool connection
is never shared across processes.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lockgate.errors import StoreError

BUSY_TIMEOUT_MS = 60_000
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def create_engines(url: str) -> tuple[Engine, Engine]:
    """Return ``(reader, writer)`` engines for ``url``; the same engine twice off SQLite.

    Raises:
        StoreError: the URL is malformed, names an unknown driver, or a SQLite file
            cannot be created where it points.
    """
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreError(
            f"LOCKGATE_DB_URL `{url}` is not a database URL. Use e.g. "
            "`sqlite:///path/lockgate.db` or `postgresql+psycopg://user@host:5432/db`."
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        _prepare_sqlite_file(parsed.database)
        reader = _sqlite_engine(url, immediate=False)
        writer = _sqlite_engine(url, immediate=True)
        return reader, writer
    try:
        engine = sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    except (sa.exc.ArgumentError, ModuleNotFoundError, sa.exc.NoSuchModuleError) as exc:
        raise StoreError(
            f"Cannot use database URL `{parsed.render_as_string(hide_password=True)}`: {exc}. "
            "For PostgreSQL install `lockgate[postgres]` and use `postgresql+psycopg://`."
        ) from exc
    _ENGINES.add(engine)
    return engine, engine


def _prepare_sqlite_file(database: str | None) -> None:
    if not database or database == ":memory:":
        raise StoreError(
            "An in-memory SQLite store cannot be shared by lockgate's threads and "
            "processes; point LOCKGATE_DB_URL at a file, e.g. sqlite:///.lockgate/lockgate.db."
        )
    path = Path(database)
    if path.is_dir():
        raise StoreError(
            f"The metadata database path {path} is a folder. Point LOCKGATE_DB_URL at a "
            "file, or remove the folder."
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.touch()
    except OSError as exc:
        raise StoreError(
            f"Cannot create the metadata database {path}: {exc.strerror}. "
            "Make the folder writable or set LOCKGATE_HOME / LOCKGATE_DB_URL elsewhere."
        ) from exc
    if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
        raise StoreError(
            f"The metadata database {path} (or its folder) is read-only. "
            "Make it writable or set LOCKGATE_HOME to a writable folder."
        )


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    engine = sa.create_engine(
        url,
        connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    _ENGINES.add(engine)
    return engine


def _dispose_in_child() -> None:
    for engine in list(_ENGINES):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_dispose_in_child)
