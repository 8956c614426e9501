"""Versioned tables: one Delta table per lockgate table, one commit per batch.

Each commit carries the whole batch record (counts, checks, contract) in its commit
metadata and, for streams, an application transaction holding the stream position, so
the Delta log is the source of truth and the metadata store can be rebuilt from it.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.dataset  # pa.dataset: staged files streamed with a new column
from deltalake import CommitProperties, DeltaTable, Schema, Transaction, write_deltalake
from deltalake.exceptions import TableNotFoundError
from deltalake.transaction import AddAction, RemoveAction, create_table_with_add_actions

from lockgate.config import Settings
from lockgate.data.contract import check_table_name
from lockgate.errors import NotFoundError
from lockgate.location import ObjectLocation, StoragePath, storage_options

COMMIT_KEY = "lockgate"
QUARANTINE_DIR = "_quarantine"


TablePath = StoragePath


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
    """A lazy scan of the Delta table at ``path`` (local or ``s3://``), as of ``version``.

    An older version that ``lockgate gc`` compacted since is scanned through the
    compaction that followed it (the same rows; its own small files may be vacuumed).
    """
    if version is not None:
        table = open_table(path)
        if table is not None and version < table.version():
            version = same_content_version(table, version)
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


def history(table: DeltaTable, limit: int | None = None) -> list[dict[str, Any]]:
    """``table.history(limit)`` with the right version numbers, and the object brought to
    the newest version.

    deltalake (1.6) numbers the commits it lists down from the version the object has
    *loaded*, but lists the log as it is *now*: a commit that lands between the two
    (another writer, ``lockgate gc``'s OPTIMIZE) shifts every number by one, so a batch
    was found under the version of a compaction commit and registered twice, and VACUUM
    could keep the wrong version. The listing is repeated until no commit landed while
    it ran.
    """
    table.update_incremental()
    while True:
        loaded = table.version()
        entries = table.history(limit)
        table.update_incremental()
        if table.version() == loaded:
            return entries


_history = history  # for functions whose ``history`` argument hides it


def commits(path: TablePath, limit: int | None = None, *,
            table: DeltaTable | None = None) -> list[dict[str, Any]]:
    """Commits written by lockgate, newest first: ``{"version", "record"}``.

    ``table``: the table at ``path`` when the caller has it open already.
    """
    table = table if table is not None else open_table(path)
    if table is None:
        return []
    out = []
    for entry in history(table, limit):
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
        try:
            arrow = delta.to_pyarrow_table(columns=columns)
        except Exception:
            # `lockgate gc` compacted the version's files and vacuumed the originals: the
            # same rows are read from the compaction that followed it.
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
                  for e in (history if history is not None else _history(delta))}
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


def current_version(path: TablePath) -> int | None:
    """The table's latest Delta version, or None."""
    table = open_table(path)
    return None if table is None else table.version()


def stage_file(path: TablePath, frame: pl.DataFrame, *,
               stats: Sequence[str] = ()) -> AddAction:
    """Write ``frame`` as one Parquet file inside the table folder, *not yet committed*.

    A staged file is invisible to every reader until :func:`commit_staged` lists it in
    a commit; a crash or a refusal before that leaves only an unreferenced file (which
    :func:`discard_staged` removes, and Delta's VACUUM would too). This is how a batch
    read in chunks lands atomically without holding the batch in memory.

    ``stats``: int and timestamp columns whose min, max and null count go into the
    commit (and row-group statistics into the file), so readers filtering on them (the
    monitor reading a span of ``logged_at``) skip the files outside it.
    """
    name = f"part-lockgate-{uuid.uuid4().hex}.snappy.parquet"
    if isinstance(path, ObjectLocation):
        size = _stage_object(path, name, frame, bool(stats))
    else:
        path.mkdir(parents=True, exist_ok=True)
        target = path / name
        frame.write_parquet(target, compression="snappy", statistics=bool(stats))
        size = target.stat().st_size
    return AddAction(name, size, {}, int(time.time() * 1000), True,
                     json.dumps(file_stats(frame, stats)))


def file_stats(frame: pl.DataFrame, columns: Sequence[str]) -> dict[str, Any]:
    """Delta's per-file statistics of ``columns`` (int or timestamp). Timestamps are
    written to the millisecond, as the protocol has them: the minimum rounded down and
    the maximum up, so each is still a bound of the values in the file."""
    stats: dict[str, Any] = {"numRecords": frame.height}
    if not columns or frame.height == 0:
        return stats
    low = frame.select(pl.col(c).min() for c in columns).row(0)
    high = frame.select(pl.col(c).max() for c in columns).row(0)
    nulls = frame.select(pl.col(c).null_count() for c in columns).row(0)
    stats["minValues"], stats["maxValues"] = {}, {}
    for name, a, b in zip(columns, low, high, strict=True):
        if a is not None:
            stats["minValues"][name] = _stat(a, up=False)
            stats["maxValues"][name] = _stat(b, up=True)
    stats["nullCount"] = dict(zip(columns, nulls, strict=True))
    return stats


def _stat(value: Any, *, up: bool) -> Any:
    if not isinstance(value, dt.datetime):
        return value
    if value.tzinfo is None:  # astimezone would read it as this machine's local time
        raise ValueError("Delta file statistics of a timestamp column need a time zone "
                         "(e.g. pl.Datetime('us', 'UTC')); this column has none.")
    ms = value.astimezone(dt.UTC).replace(tzinfo=None)
    floor = ms.replace(microsecond=ms.microsecond // 1000 * 1000)
    if up and floor != ms:
        floor += dt.timedelta(milliseconds=1)
    return floor.strftime("%Y-%m-%dT%H:%M:%S.") + f"{floor.microsecond // 1000:03d}Z"


def _stage_object(path: ObjectLocation, name: str, frame: pl.DataFrame,
                  statistics: bool) -> int:
    """Upload a staged file under the table's prefix (one PUT or a completed multipart
    upload: the object is whole or absent, and no commit references it yet)."""
    import tempfile

    from lockgate.artifacts.object_store import S3ObjectStore

    with tempfile.TemporaryDirectory(prefix="lockgate-stage-") as scratch:
        local = Path(scratch) / name
        frame.write_parquet(local, compression="snappy", statistics=statistics)
        S3ObjectStore(path).put(name, local)
        return local.stat().st_size


def read_staged(path: TablePath, action: AddAction) -> pl.DataFrame:
    """The rows of one staged (not yet committed) file."""
    return pl.read_parquet(str(path / action.path), storage_options=storage_options(path))


def read_file(uri: str, schema: pa.Schema, columns: list[str] | None = None) -> pl.DataFrame:
    """One committed data file (a URI of ``DeltaTable.file_uris()``) as the table shows
    it: the version's ``columns`` (default: all), in its order and types, those the file
    was written without (added later by schema evolution) null. Reading a table file by
    file keeps memory to one file's rows."""
    local = uri.removeprefix("file://") if uri.startswith("file://") else uri
    options = storage_options(uri)
    target = typed_schema(schema)
    wanted = columns if columns is not None else list(target)
    present = set(pl.scan_parquet(local, storage_options=options).collect_schema().names())
    frame = pl.read_parquet(local, columns=[c for c in wanted if c in present],
                            storage_options=options)
    return frame.select(pl.col(c).cast(target[c]) if c in present
                        else pl.lit(None, target[c]).alias(c) for c in wanted)


def typed_schema(schema: pa.Schema) -> pl.Schema:
    """The Polars types of an Arrow schema (of a Delta table version)."""
    return pl.DataFrame(schema.empty_table()).schema


def discard_staged(path: TablePath, actions: list[AddAction]) -> None:
    """Remove staged files that will not be committed (the batch was refused or failed)."""
    if isinstance(path, ObjectLocation):
        from lockgate.artifacts.object_store import S3ObjectStore

        objects = S3ObjectStore(path)
        for action in actions:
            objects.delete(action.path)
        return
    for action in actions:
        (path / action.path).unlink(missing_ok=True)


def commit_staged(path: TablePath, adds: list[AddAction], schema: pa.Schema,
                  record: dict[str, Any], *, removes: list[RemoveAction] | None = None,
                  transaction: tuple[str, int] | None = None,
                  table: DeltaTable | None = None) -> int:
    """Commit staged files (and the removal of ``removes``) as one atomic Delta version
    carrying ``record``; a new table is created by that same commit (its version 0).

    ``schema``: the staged files' schema; when it adds columns to an existing table the
    files are streamed once more through ``write_deltalake`` with a schema merge (the
    low-level commit cannot evolve the schema), still one commit.
    """
    properties = CommitProperties(
        custom_metadata={COMMIT_KEY: json.dumps(record, sort_keys=True, default=str)},
        app_transactions=[Transaction(*transaction)] if transaction else None,
    )
    table = commit_files(path, adds, schema, removes=removes, table=table,
                         properties=properties)
    return find_commit(path, record["batch_id"], table)


def commit_files(path: TablePath, adds: list[AddAction], schema: pa.Schema, *,
                 removes: list[RemoveAction] | None = None, table: DeltaTable | None = None,
                 properties: CommitProperties | None = None) -> DeltaTable | None:
    """Commit staged files as one Delta version (see :func:`commit_staged`, which adds
    the batch record); a new table is created by that commit.

    Returns:
        ``table`` brought to the new version, or None when this commit created the table.
    """
    if table is None:
        table = open_table(path)
    if table is None:
        create_table_with_add_actions(str(path), Schema.from_arrow(schema), adds,
                                      mode="error", storage_options=storage_options(path),
                                      commit_properties=properties)
        return None
    landed = pa.schema(table.schema().to_arrow())
    if set(schema.names) - set(landed.names) and not removes:
        reader = _staged_reader(path, adds, schema)
        write_deltalake(table, reader, mode="append", schema_mode="merge",
                        commit_properties=properties)
        discard_staged(path, adds)
        return table
    table.create_write_transaction([*adds, *(removes or [])], "append", table.schema(),
                                   commit_properties=properties)
    table.update_incremental()  # the low-level commit does not advance the object
    return table


def _staged_reader(path: TablePath, adds: list[AddAction], schema: pa.Schema) -> Any:
    """The staged files' rows as one Arrow stream (local files, or objects read through
    Polars' own object store one file at a time: never the whole batch in memory)."""
    if not adds:
        return schema.empty_table().to_reader()
    files = [str(path / a.path) for a in adds]
    if isinstance(path, ObjectLocation):  # one staged file (one chunk) in memory at a time
        options = storage_options(path)

        def batches() -> Any:
            for file in files:
                yield from pl.read_parquet(file, storage_options=options).to_arrow() \
                    .cast(schema).to_batches()

        return pa.RecordBatchReader.from_batches(schema, batches())
    return pa.dataset.dataset(files, format="parquet", schema=schema).scanner().to_reader()


def added_files(path: TablePath, version: int) -> list[RemoveAction]:
    """The data files ``version`` added, as removal actions."""
    now = {a["path"]: a for a in _add_actions(_required(path, version))}
    before = {} if version == 0 else {
        a["path"]: a for a in _add_actions(_required(path, version - 1))}
    stamp = int(time.time() * 1000)
    return [RemoveAction(p, True, stamp, int(a["size_bytes"]), {})
            for p, a in now.items() if p not in before]


def _required(path: TablePath, version: int) -> DeltaTable:
    table = open_table(path, version)
    if table is None:
        raise NotFoundError(f"No Delta table at {path}.")
    return table


def _add_actions(table: DeltaTable) -> list[dict[str, Any]]:
    frame = pl.from_arrow(pa.table(table.get_add_actions(flatten=True)))
    assert isinstance(frame, pl.DataFrame)
    return frame.select("path", "size_bytes").to_dicts()
