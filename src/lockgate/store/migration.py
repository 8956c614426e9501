"""Applying Alembic migrations: on first use of a store and by ``lockgate db upgrade``.

Several processes may open a fresh store at the same moment, so upgrades are
serialised: a file lock beside a SQLite database, an advisory lock on PostgreSQL.

Every ``Store.open`` asks "is this database current?". Answering through Alembic costs
its import and a parse of every migration script (~0.4 s of CPU, most of a short CLI
command), so the heads are read from the scripts' ``revision`` / ``down_revision``
lines and the database's ``alembic_version`` with one query; Alembic is imported only
when something must actually be migrated.

After migrating, every table whose columns or indexes a migration changed is analysed
(``ANALYZE`` on PostgreSQL): a column added to a table of a million rows has no planner
statistics until then, and PostgreSQL guesses conditions on it (``deleted_at IS NULL``
as 0.5% selective after ``core_0003_i21``), turning 20 ms pages into seconds until
autovacuum happens to analyse the table.
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
            before = table_shapes(conn)
            config.attributes["connection"] = conn
            command.upgrade(config, "heads")
            changed = changed_tables(before, table_shapes(conn))
        analyze(engine, changed)
    return True


#: A table's columns (name, type) and indexes (name, columns), as compared across a
#: migration.
Shape = tuple[tuple[tuple[str, str], ...], tuple[tuple[str, tuple[str, ...]], ...]]


def table_shapes(conn: sa.Connection) -> dict[str, Shape]:
    """Every table's columns and indexes in the connection's schema."""
    inspector = sa.inspect(conn)
    columns = inspector.get_multi_columns()
    indexes = inspector.get_multi_indexes()
    out: dict[str, Shape] = {}
    for (_, table), cols in columns.items():
        out[table] = (
            tuple(sorted((c["name"], str(c["type"])) for c in cols)),
            tuple(sorted((str(i["name"]), tuple(str(n) for n in i["column_names"]))
                         for i in indexes.get((None, table), []))),
        )
    return out


def changed_tables(before: dict[str, Shape], after: dict[str, Shape]) -> list[str]:
    """Tables a migration created or whose columns or indexes it changed (by name)."""
    return sorted(name for name, shape in after.items()
                  if name != "alembic_version" and before.get(name) != shape)


def analyze(engine: Engine, tables: list[str]) -> None:
    """Refresh the planner statistics of ``tables`` (PostgreSQL; SQLite stores keep
    none, see ``repository.PlannerStats``). Outside the migration's transaction, so
    the new schema is committed whatever happens here."""
    if engine.dialect.name != "postgresql" or not tables:
        return
    preparer = engine.dialect.identifier_preparer
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE " + ", ".join(preparer.quote(t) for t in tables))
        conn.commit()


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
