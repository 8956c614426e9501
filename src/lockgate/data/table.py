"""Versioned tables: one Delta table per lockgate table, one commit per batch.

Each commit carries the whole batch record (counts, checks, contract) in its commit
metadata and, for streams, an application transaction holding the stream position, so
the Delta log is the source of truth and the metadata store can be rebuilt from it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import TableNotFoundError

from lockgate.config import Settings
from lockgate.data.contract import check_table_name
from lockgate.errors import NotFoundError
from lockgate.location import ObjectLocation, storage_options

COMMIT_KEY = "lockgate"
QUARANTINE_DIR = "_quarantine"


TablePath = Path | ObjectLocation


def table_path(settings: Settings, table: str) -> TablePath:
    """Folder of a table's Delta log and files (name checked, never joined blindly)."""
    return settings.resolved_data_root / check_table_name(table)


def quarantine_path(settings: Settings, table: str) -> TablePath:
    """Folder of a table's quarantine Delta table."""
    return settings.resolved_data_root / QUARANTINE_DIR / check_table_name(table)


def open_table(path: TablePath, version: int | None = None) -> DeltaTable | None:
    """The Delta table at ``path`` (a folder or an ``s3://`` prefix, opened through
    deltalake's own object store), or None when none was written yet."""
    try:
        return DeltaTable(str(path), version=version, storage_options=storage_options(path))
    except TableNotFoundError:
        return None


def scan(path: TablePath, version: int | None = None) -> pl.LazyFrame:
    """A lazy scan of the Delta table at ``path`` (local or ``s3://``), as of ``version``."""
    return pl.scan_delta(str(path), version=version, storage_options=storage_options(path))


def commit(path: TablePath, frame: pl.DataFrame, record: dict[str, Any], *,
           transaction: tuple[str, int] | None = None, evolve: bool = False,
           table: DeltaTable | None = None) -> int:
    """Append ``frame`` as one atomic commit carrying ``record``; return its version.

    Args:
        path: the Delta table folder.
        frame: rows to append (may be empty: the batch still gets a version).
        record: the batch record, stored in the commit metadata.
        transaction: (application id, position) committed with the data, so a stream
            consumer can tell after a crash what already landed.
        evolve: allow new columns (schema merge) for the ``evolve`` policy.
        table: the table at ``path`` when the caller has it open already; the write
            then reuses its log instead of reading it again (twice: to write and to find
            the new version), which is most of a micro-batch's cost on a long log.
    """
    properties = CommitProperties(
        custom_metadata={COMMIT_KEY: json.dumps(record, sort_keys=True, default=str)},
        app_transactions=[Transaction(*transaction)] if transaction else None,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_deltalake(str(path) if table is None else table, frame.to_arrow(), mode="append",
                    schema_mode="merge" if evolve else None, commit_properties=properties,
                    storage_options=storage_options(path) if table is None else None)
    return find_commit(path, record["batch_id"], table)


def merge(path: TablePath, frame: pl.DataFrame, record: dict[str, Any], keys: tuple[str, ...], *,
          transaction: tuple[str, int] | None = None, table: DeltaTable | None = None) -> int:
    """Upsert ``frame`` by ``keys`` as one atomic Delta MERGE carrying ``record``: a row
    whose key landed replaces it (the old row stays readable by time travel), the others
    are inserted. Returns the new version."""
    if frame.is_empty():  # a MERGE of nothing writes no commit; the batch still gets one
        return commit(path, frame, record, transaction=transaction, evolve=True, table=table)
    properties = CommitProperties(
        custom_metadata={COMMIT_KEY: json.dumps(record, sort_keys=True, default=str)},
        app_transactions=[Transaction(*transaction)] if transaction else None,
    )
    target = table if table is not None else open_table(path)
    if target is None:
        raise NotFoundError(f"No Delta table at {path} to merge into.")
    predicate = " AND ".join(f"t.{_quoted(k)} = s.{_quoted(k)}" for k in keys)
    (target.merge(frame.to_arrow(), predicate, source_alias="s", target_alias="t",
                  merge_schema=True, commit_properties=properties)
     .when_matched_update_all().when_not_matched_insert_all().execute())
    return find_commit(path, record["batch_id"], target)


def _quoted(name: str) -> str:
    # Contract column names are checked identifiers (letters, digits, `_`): quoting keeps
    # the SQL dialect of the merge from reading one as a keyword.
    return f"`{name}`"


def find_commit(path: TablePath, batch_id: str, table: DeltaTable | None = None) -> int:
    """The version of the commit that landed ``batch_id`` (newest first search).

    ``table``, when given, must be the object the commit was written through (it then
    already holds the new version).
    """
    for entry in commits(path, limit=50, table=table):
        if entry["record"].get("batch_id") == batch_id:
            return int(entry["version"])
    raise NotFoundError(f"Batch {batch_id} is not in the Delta log at {path}.")


def commits(path: TablePath, limit: int | None = None, *,
            table: DeltaTable | None = None) -> list[dict[str, Any]]:
    """Commits written by lockgate, newest first: ``{"version", "record"}``.

    ``table``: the table at ``path`` when the caller has it open already.
    """
    table = table if table is not None else open_table(path)
    if table is None:
        return []
    out = []
    for entry in table.history(limit):
        raw = entry.get(COMMIT_KEY)
        if raw:
            out.append({"version": int(entry["version"]), "record": json.loads(raw)})
    return out


def position(path: TablePath, app_id: str) -> int | None:
    """The last position an application committed with its data, or None."""
    table = open_table(path)
    return None if table is None else table.transaction_version(app_id)


def read_version(path: TablePath, table: str, version: int | None = None,
                 columns: list[str] | None = None) -> pl.DataFrame:
    """A table as of ``version`` (latest when None).

    Raises:
        NotFoundError: no such table or version.
    """
    delta = open_table(path)
    if delta is None:
        raise NotFoundError(f"No table `{table}` at {path}. List tables with "
                            "`lockgate data tables`.")
    if version is not None:
        latest = delta.version()
        if not 0 <= version <= latest:
            raise NotFoundError(f"Table `{table}` has versions 0..{latest}, not {version}. "
                                f"List them with `lockgate data versions {table}`.")
        delta.load_as_version(version)
    frame = pl.from_arrow(delta.to_pyarrow_table(columns=columns))
    assert isinstance(frame, pl.DataFrame)
    return frame


def check_compatible(delta: DeltaTable | None, table: str, frame: pl.DataFrame) -> None:
    """Refuse, before anything is written, a batch whose column types differ from the
    table's (e.g. a new contract turned ``amount`` from float into int).

    Args:
        delta: the open table (None: not written yet, anything fits).
        table: its name, for the message.
        frame: the rows about to be appended.

    Raises:
        ContractError: names each column with the table's and the batch's type.
    """
    from lockgate.data.errors import ContractError

    if delta is None:
        return
    landed = pl.from_arrow(pa.schema(delta.schema().to_arrow()).empty_table())
    assert isinstance(landed, pl.DataFrame)
    clashes = [f"`{name}` is {landed.schema[name]} in the table but {dtype} in the batch"
               for name, dtype in frame.schema.items()
               if name in landed.schema and landed.schema[name] != dtype]
    if clashes:
        raise ContractError(
            f"The contract changed column types of table `{table}`: " + "; ".join(clashes)
            + ". Keep the types (Delta tables cannot change them in place) or land the "
            "data in a new table. Nothing was written.")


def current_version(path: TablePath) -> int | None:
    """The table's latest Delta version, or None."""
    table = open_table(path)
    return None if table is None else table.version()
