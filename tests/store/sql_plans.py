"""The statements a store call runs and the plans the database makes for them, on SQLite
and PostgreSQL: for tests that pin a query's shape ("one index range, no sort over the
runs"), never its time.

PostgreSQL plans a table of a few rows as a sequential scan and a sort whatever the
indexes, so its plans are taken with sequential scans, bitmap scans and sorts priced
out (``SET LOCAL enable_* = off``): a Sort node that is still there means no index can
give that order at any size.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from lockgate.store import Store


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement as the driver received it."""

    sql: str
    parameters: Any

    @property
    def is_select(self) -> bool:
        return self.sql.lstrip().upper().startswith("SELECT")


@contextmanager
def statements(store: Store) -> Iterator[list[Statement]]:
    """Every statement run on the store's engines inside the block, in order."""
    seen: list[Statement] = []

    def on_execute(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        seen.append(Statement(statement, parameters))

    engines = list({id(e): e for e in (store.reader, store.writer)}.values())
    for engine in engines:
        sa.event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield seen
    finally:
        for engine in engines:
            sa.event.remove(engine, "before_cursor_execute", on_execute)


def plan(store: Store, statement: Statement) -> str:
    """The database's plan of ``statement``, as one line of text."""
    with store.reader.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        if store.dialect == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + statement.sql, statement.parameters)
            return " | ".join(str(row[-1]) for row in cursor.fetchall())
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            cursor.execute(f"SET LOCAL {setting} = off")
        cursor.execute("EXPLAIN " + statement.sql, statement.parameters)
        text = " | ".join(str(row[0]).strip() for row in cursor.fetchall())
        conn.rollback()
        return text


def plans(store: Store, found: list[Statement], mentioning: str = "") -> list[str]:
    """The plans of the SELECTs in ``found`` whose text contains ``mentioning``."""
    return [plan(store, s) for s in found if s.is_select and mentioning in s.sql]
