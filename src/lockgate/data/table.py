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

COMMIT_KEY = "lockgate"
QUARANTINE_DIR = "_quarantine"


def table_path(settings: Settings, table: str) -> Path:
    """Folder of a table's Delta log and files (name checked, never joined blindly)."""
    return settings.resolved_data_root / check_table_name(table)


def quarantine_path(settings: Settings, table: str) -> Path:
    """Folder of a table's quarantine Delta table."""
    return settings.resolved_data_root / QUARANTINE_DIR / check_table_name(table)


def open_table(path: Path) -> DeltaTable | None:
    """The Delta table at ``path``, or None when none was written yet."""
    try:
        return DeltaTable(str(path))
    except TableNotFoundError:
        return None


def commit(path: Path, frame: pl.DataFrame, record: dict[str, Any], *,
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
                    schema_mode="merge" if evolve else None, commit_properties=properties)
    return find_commit(path, record["batch_id"], table)


def merge(path: Path, frame: pl.DataFrame, record: dict[str, Any], keys: tuple[str, ...], *,
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
    target = table if table is not None else DeltaTable(str(path))
    predicate = " AND ".join(f"t.{_quoted(k)} = s.{_quoted(k)}" for k in keys)
    (target.merge(frame.to_arrow(), predicate, source_alias="s", target_alias="t",
                  merge_schema=True, commit_properties=properties)
     .when_matched_update_all().when_not_matched_insert_all().execute())
    return find_commit(path, record["batch_id"], target)


def _quoted(name: str) -> str:
    # Contract column names are checked identifiers (letters, digits, `_`): quoting keeps
    # the SQL dialect of the merge from reading one as a keyword.
    return f"`{name}`"


def find_commit(path: Path, batch_id: str, table: DeltaTable | None = None) -> int:
    """The version of the commit that landed ``batch_id`` (newest first search).

    ``table``, when given, must be the object the commit was written through (it then
    already holds the new version).
    """
    for entry in commits(path, limit=50, table=table):
        if entry["record"].get("batch_id") == batch_id:
            return int(entry["version"])
    raise NotFoundError(f"Batch {batch_id} is not in the Delta log at {path}.")


def commits(path: Path, limit: int | None = None, *,
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


def position(path: Path, app_id: str) -> int | None:
    """The last position an application committed with its data, or None."""
    table = open_table(path)
    return None if table is None else table.transaction_version(app_id)


def read_version(path: Path, table: str, version: int | None = None,
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
        try:
            arrow = delta.to_pyarrow_table(columns=columns)
        except Exception:
            # `lockgate gc` compacted the version's files and vacuumed the originals: the
            # same rows are read from the compaction that followed it.
            delta = DeltaTable(str(path))  # the history beyond the version loaded
            same = same_content_version(delta, version)
            if same == version:
                raise
            delta.load_as_version(same)
            arrow = delta.to_pyarrow_table(columns=columns)
    else:
        arrow = delta.to_pyarrow_table(columns=columns)
    frame = pl.from_arrow(arrow)
    assert isinstance(frame, pl.DataFrame)
    return frame


#: Delta operations that rewrite or delete files without changing a table's rows.
MAINTENANCE_OPERATIONS = frozenset({"OPTIMIZE", "VACUUM START", "VACUUM END"})


def same_content_version(delta: DeltaTable, version: int,
                         history: list[dict[str, Any]] | None = None) -> int:
    """The newest Delta version holding exactly the rows of ``version``: ``version``
    itself, or a later one reached only through compaction and vacuum commits.

    ``lockgate gc`` keeps a version readable either by its own files or, once those are
    compacted, by this later version's; ``history`` is ``delta.history()`` when the
    caller has read it already.
    """
    operations = {int(e["version"]): e.get("operation")
                  for e in (history if history is not None else delta.history())}
    same = version
    while operations.get(same + 1) in MAINTENANCE_OPERATIONS:
        same += 1
    return same


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


def current_version(path: Path) -> int | None:
    """The table's latest Delta version, or None."""
    table = open_table(path)
    return None if table is None else table.version()
