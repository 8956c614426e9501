"""Applying Alembic migrations: on first use of a store and by ``lockgate db upgrade``.

Several processes may open a fresh store at the same moment, so upgrades are
serialised: a file lock beside a SQLite database, an advisory lock on PostgreSQL.

Every ``Store.open`` asks "is this database current?". Answering through Alembic costs
its import and a parse of every migration script (~0.4 s of CPU, most of a short CLI
command), so the heads are read from the scripts' ``revision`` / ``down_revision``
lines and the database's ``alembic_version`` with one query; Alembic is imported only
when something must actually be migrated.
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
_PG_LOCK_KEY = 0x10C6A7E


def alembic_config() -> Config:
    """An Alembic config pointing at lockgate's bundled migration scripts."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@functools.cache
def head_revisions() -> frozenset[str]:
    """The head revision of every migration branch shipped with this lockgate: the
    revisions no other script names as its ``down_revision``."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not isinstance(node, ast.Assign) or not isinstance(node.targets[0], ast.Name):
                continue
            target = node.targets[0]
            if target.id == "revision":
                revisions.add(str(ast.literal_eval(node.value)))
            elif target.id == "down_revision":
                value = ast.literal_eval(node.value)
                parents.update([] if value is None else [value] if isinstance(value, str)
                               else value)
    return frozenset(revisions - parents)


def current_revisions(engine: Engine) -> set[str]:
    """The revisions a database is at (empty for a fresh database)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return set()
        return set(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())


def upgrade(engine: Engine) -> bool:
    """Bring the database to the newest revision of every branch.

    Returns:
        True when a migration ran, False when the database was already current.
    """
    heads = head_revisions()
    if current_revisions(engine) == heads:
        return False
    from alembic import command

    with _migration_lock(engine):
        if current_revisions(engine) == heads:
            return False
        config = alembic_config()
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "heads")
    return True


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "sqlite":
        lock_path = Path(f"{engine.url.database}.migrate.lock")
        with open(lock_path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()
        return
    yield
