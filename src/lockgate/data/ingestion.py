"""Ingestion: one way in for every source. A batch is read, normalised to the contract,
checked for schema change, validated row by row, and landed as one atomic Delta commit
(accepted rows) plus its quarantined rows, then registered as a dataset version whose
number is the Delta version.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import polars as pl
import sqlalchemy as sa
from deltalake import DeltaTable

from lockgate.config import Settings, load_settings
from lockgate.data import quarantine as quarantine_table
from lockgate.data import schema_change
from lockgate.data import table as delta
from lockgate.data.batch_index import CrossChunk
from lockgate.data.check_result import CheckLevel, CheckResult, ValidationStatus
from lockgate.data.chunk_reader import chunked
from lockgate.data.chunked import ChunkObserver, ChunkProgress, land_chunks
from lockgate.data.contract import (
    Contract,
    SchemaChangePolicy,
    check_table_name,
    load_contract,
)
from lockgate.data.errors import ContractError, QuarantineShareError, SourceError
from lockgate.data.label_conflicts import mark_landed_conflicts
from lockgate.data.landed_index import LandedIndex, forget, landed_index, remember
from lockgate.data.normalize import PARSE_FAIL, RAW, ColumnMapping, map_columns, normalize
from lockgate.data.source import Batch, IngestSource, SqlSource, as_source
from lockgate.data.statistics import (
    category_changes,
    column_stats,
    null_share_changes,
    scale_changes,
    value_counts,
)
from lockgate.data.validation import (
    RAW_JSON,
    REASONS,
    ROW,
    ValidationOutcome,
    copy_identity,
    raw_json,
    validate,
)
from lockgate.location import StoragePath
from lockgate.lru import LruCache
from lockgate.pipelines import step_context
from lockgate.store import DatasetVersion, Store

if TYPE_CHECKING:
    from lockgate.tracking import Run

Progress = Callable[[int], None]
#: Tables whose column statistics (per dataset version) a process keeps; past the bound
#: the least recently used table's are dropped and re-read on its next batch (the landed
#: keys have their own bounded index, ``landed_index``).
CACHED_TABLES = 32
_STATS: LruCache[str, tuple[int, dict[str, dict[str, Any]]]] = LruCache(CACHED_TABLES)


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What happened to one batch.

    Attributes:
        table: the table.
        dataset_version: the registered version (None when nothing new landed).
        ingested, accepted, quarantined: row counts; ingested == accepted + quarantined.
        reasons: quarantined rows per reason code.
        created: False when the same content had already landed (idempotent re-ingest).
        batch_id: the batch's id (also on its quarantined rows).
        warnings: batch-level findings (scale change, evolved schema...).
        deduplicated: copies of rows that had landed (or came earlier in the batch), set
            aside before the door: not counted in ``ingested``.
        updated: accepted rows that replaced a landed row of the same key (upsert).
    """

    table: str
    dataset_version: DatasetVersion | None
    ingested: int
    accepted: int
    quarantined: int
    reasons: dict[str, int]
    created: bool
    batch_id: str
    warnings: tuple[str, ...] = ()
    contract_version: str | None = None
    deduplicated: int = 0
    updated: int = 0
    #: Per quarantined row, its position in the batch and its reasons; then the
    #: positions of the copies (so a caller that merged requests can answer each).
    row_reasons: tuple[tuple[int, tuple[str, ...]], ...] = field(default=(), repr=False)
    copy_rows: tuple[int, ...] = field(default=(), repr=False)
    #: Chunks the batch was read in (0: read whole).
    chunks: int = 0

    @property
    def version(self) -> int | None:
        """The dataset (and Delta) version, or None."""
        return None if self.dataset_version is None else self.dataset_version.version

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (CLI ``--json``, HTTP responses)."""
        return {
            "table": self.table, "version": self.version, "ingested": self.ingested,
            "accepted": self.accepted, "quarantined": self.quarantined,
            "reasons": self.reasons, "created": self.created, "batch_id": self.batch_id,
            "warnings": list(self.warnings), "contract_version": self.contract_version,
            "deduplicated": self.deduplicated, "updated": self.updated,
            "chunks": self.chunks,
            "validation_status": None if self.dataset_version is None
            else self.dataset_version.validation_status,
        }


@dataclass(frozen=True, slots=True)
class Landing:
    """How a batch lands: an explicit batch id and a stream position (streams only)."""

    batch_id: str | None = None
    transaction: tuple[str, int] | None = None
    idempotent: bool = True
    row_ids: tuple[str, ...] | None = None
    positions: tuple[int, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: Columns naming an event (a declared event id): a repeat is a copy, not a row.
    dedupe_key: tuple[str, ...] = ()
    #: Messages refused before the door (not JSON, unknown fields under a failing
    #: policy): (reason, raw payload); they follow the batch's rows in ``row_ids`` and
    #: ``positions`` and are quarantined with it, in the same accounting.
    rejected: tuple[tuple[str, str], ...] = ()


IngestMode = Literal["append", "upsert"]


@dataclass(frozen=True, slots=True)
class IngestOptions:
    """Per-call choices.

    Attributes:
        max_quarantine_share: refuse the whole batch (nothing lands) when more than this
            share of its rows would be quarantined; default: the contract's.
        mode: ``append`` (a landed primary key repeated with other values is a
            duplicate) or ``upsert`` (it replaces the landed row through a Delta MERGE;
            the old row stays readable by time travel).
    """

    max_quarantine_share: float | None = None
    mode: IngestMode = "append"
    #: Bytes of CSV/JSON text (rows of Parquet / SQL: their own sizes) per chunk of a
    #: chunked read; default ``chunk_reader.CHUNK_BYTES``.
    chunk_bytes: int | None = None

    def __post_init__(self) -> None:
        share = self.max_quarantine_share
        if share is not None and not 0 <= share <= 1:
            raise ContractError(f"max_quarantine_share must be from 0 to 1, got {share}.")
        if self.mode not in ("append", "upsert"):
            raise ContractError(f"mode must be `append` or `upsert`, got `{self.mode}`.")


def ingest(source: IngestSource, table: str, contract: Contract | str | Path | None = None,
           *, settings: Settings | None = None, run: Run | None = None,
           progress: Progress | None = None, options: IngestOptions | None = None,
           max_quarantine_share: float | None = None, whole: bool = False,
           observe: ChunkObserver | None = None,
           chunk_progress: ChunkProgress | None = None) -> IngestResult:
    """Ingest one batch from any source into ``table``.

    Args:
        source: a path (file, glob, folder), a frame, a list of records, or a Source
            (``SqlSource(url, query)``, ``FileSource(path)``...).
        table: the table name.
        contract: the contract (object or YAML path); default: the table's current one.
        settings: lockgate settings (default: environment).
        run: a tracking Run; the new dataset version is recorded as its output.
        progress: called with bytes (files) or rows (SQL) read so far.
        options: fail threshold and mode (append / upsert).
        max_quarantine_share: shorthand for ``options.max_quarantine_share``.
        whole: read the source whole instead of in chunks. Files and (non-incremental)
            SQL results are read in chunks by default, in bounded memory, and still land
            as one atomic version (see ``lockgate.data.chunked``); upserts, incremental
            SQL, frames and records are read whole.
        observe: called with (chunk number, accepted rows) per chunk (profiles).
        chunk_progress: called after each chunk with (rows so far, bytes or rows of the
            source read so far).

    Returns:
        The batch's IngestResult; ``created`` is False when the same content had landed.

    Raises:
        SourceError, SourceUnreachableError: the source cannot be read; nothing landed.
        ContractError: no contract for a new table, or a bad one.
        SchemaChangeError: the columns changed and the policy is ``fail``.
        QuarantineShareError: the fail threshold was crossed; nothing landed.
    """
    settings = settings or load_settings()
    check_table_name(table)
    options = options or IngestOptions()
    if max_quarantine_share is not None:
        options = replace(options, max_quarantine_share=max_quarantine_share)
    resolved = resolve_contract(table, contract, settings)
    source = as_source(source)
    if isinstance(source, SqlSource) and source.watermark:
        return land_incremental(source, table, resolved, settings=settings, run=run,
                                options=options, progress=progress)
    if options.mode == "append" and not whole:
        chunks = chunked(source, chunk_bytes=options.chunk_bytes)
        if chunks is not None:
            def report(rows: int, read: int) -> None:
                if progress is not None:
                    progress(read)
                if chunk_progress is not None:
                    chunk_progress(rows, read)

            return land_chunks(chunks, table, resolved, settings=settings, run=run,
                               options=options, observe=observe, progress=report)
    batch = source.read(progress)
    return land(batch, table, resolved, settings=settings, run=run, options=options)


def land(batch: Batch, table: str, contract: Contract, *, settings: Settings,
         run: Any = None, landing: Landing | None = None,
         options: IngestOptions | None = None) -> IngestResult:
    """Validate and land one batch that was already read (shared by every source).

    Raises:
        QuarantineShareError: more of the batch would be quarantined than allowed;
            nothing was written.
    """
    landing = landing or Landing()
    options = options or IngestOptions()
    store = Store.open(settings)
    reconcile(store, settings, table)
    if landing.idempotent:
        done = _landed_before(store, table, batch.content_hash, contract.version)
        if done is not None:
            return IngestResult(
                table=table, dataset_version=done, ingested=batch.frame.height, accepted=0,
                quarantined=0, reasons={}, created=False, batch_id=done.batch_id or "",
                warnings=(f"same content already landed as {done.ref} under contract "
                          f"v{contract.version}; nothing new was written",),
                contract_version=done.contract_version)
    if contract.table != table:
        raise ContractError(f"The contract is for table `{contract.table}`, not `{table}`. "
                            "Pass the right contract or table name.")
    if batch.frame.width == 0:
        raise SourceError(f"{batch.source} has no columns: nothing to ingest.")
    given_version = contract.version
    batch_id = landing.batch_id or (
        hashlib.sha256(f"{batch.content_hash}|{given_version}".encode()).hexdigest()[:16]
        if landing.idempotent else uuid.uuid4().hex[:16])
    path = delta.table_path(settings, table)
    landed = delta.open_table(path)  # one read of the log serves keys, types and the append
    screened = screen(batch, contract, settings, landed=landed, landing=landing,
                      upsert=options.mode == "upsert")
    outcome, contract, warnings = screened.outcome, screened.contract, screened.warnings
    outcome = _with_rejected(outcome, landing)
    _check_share(outcome, contract, options, batch.source, table)
    batch_checks = {**screened.batch_checks,
                    **_batch_level(store, table, screened.stats, screened.categories)}
    warnings += [c.message for c in batch_checks.values() if c.message]
    results = {**outcome.check_results(), **batch_checks}
    checks = {name: result.to_dict() for name, result in results.items()}
    status = (ValidationStatus.FAILED if any(not c.ok for c in batch_checks.values())
              else ValidationStatus.PASSED)
    record: dict[str, Any] = {
        "batch_id": batch_id, "source": batch.source, "content_hash": batch.content_hash,
        "contract_version": contract.version, "rows_ingested": outcome.rows,
        "rows_accepted": outcome.accepted.height, "rows_quarantined": outcome.quarantined.height,
        "validation_status": status, "checks": checks,
        "details": {"reasons": outcome.reasons, "stats": screened.stats,
                    "contract": contract.to_dict(), "contract_given": given_version,
                    "schema_changes": screened.changes, "warnings": warnings,
                    "deduplicated": outcome.deduplicated, "updated": outcome.updated,
                    "mode": options.mode, **landing.extra},
        "landed_at": time.time(),
    }
    delta.check_compatible(landed, table, outcome.accepted)
    _write_quarantine(settings, table, outcome, record, landing)
    if options.mode == "upsert" and landed is not None and contract.primary_key:
        version = delta.merge(path, outcome.accepted, record, contract.primary_key,
                              transaction=landing.transaction, table=landed)
        forget(path)
    elif (found := superseded_files(store, path, table, batch.content_hash, given_version,
                                    contract) if landing.idempotent else None) is not None:
        record["details"]["supersedes"] = found[0]
        record["details"]["warnings"].append(
            f"supersedes {table}@v{found[0]} (the same source under an earlier contract): "
            "its rows leave the table, still readable by time travel")
        staged = [delta.stage_file(path, outcome.accepted)] if outcome.accepted.height else []
        version = delta.commit_staged(path, staged, outcome.accepted.to_arrow().schema, record,
                                      removes=found[1], table=landed)
        forget(path)
    else:
        version = delta.commit(path, outcome.accepted, record, transaction=landing.transaction,
                               evolve=True, table=landed)
        remember(path, version, outcome.accepted, contract)
    dataset_version = _register(store, table, version, record, run)
    _remember_stats(store, dataset_version)
    return IngestResult(
        table=table, dataset_version=dataset_version, ingested=outcome.rows,
        accepted=outcome.accepted.height, quarantined=outcome.quarantined.height,
        reasons=outcome.reasons, created=True, batch_id=batch_id, warnings=tuple(warnings),
        contract_version=contract.version, deduplicated=outcome.deduplicated,
        updated=outcome.updated,
        row_reasons=tuple((int(r), tuple(c)) for r, c in outcome.quarantined.select(
            ROW, REASONS).iter_rows()),
        copy_rows=outcome.copy_rows)


def land_incremental(source: SqlSource, table: str, contract: Contract, *,
                     settings: Settings, run: Any = None,
                     options: IngestOptions | None = None,
                     progress: Progress | None = None) -> IngestResult:
    """Extract only what is new since the last landing, by the source's watermark.

    The highest watermark landed is stored in the same Delta commit as the rows, so it
    never runs ahead of the data (effectively once). The boundary is inclusive: rows at
    the last watermark are read again and skipped as copies by primary key; an updated
    row (same key, new values) is quarantined as a duplicate, or replaces the landed row
    with ``mode="upsert"``.

    Raises:
        ContractError: the contract has no primary key (needed to skip the rows read
            twice at the boundary).
    """
    if not contract.primary_key:
        raise ContractError(
            f"Incremental extraction of `{table}` by `{source.watermark}` needs a "
            "primary_key in the contract: rows at the last watermark are read again and "
            "skipped by key.")
    store = Store.open(settings)
    reconcile(store, settings, table)
    key = f"{source.url}|{source.query}|{source.watermark}"
    previous = _last_watermark(store, table, key)
    batch = source.since(_watermark_value(previous)).read(progress)
    column = source.watermark or ""
    if column not in batch.frame.columns:
        raise SourceError(f"The query's result has no watermark column `{column}`; it has "
                          f"{', '.join(batch.frame.columns)}.")
    high = batch.frame[column].drop_nulls().max() if batch.frame.height else None
    mark = previous if high is None else _watermark_record(high)
    landing = Landing(extra={"incremental": {"key": key, "column": column,
                                             "since": previous, "watermark": mark}})
    return land(batch, table, contract, settings=settings, run=run, landing=landing,
                options=options)


def _last_watermark(store: Store, table: str, key: str) -> dict[str, Any] | None:
    try:
        versions = store.dataset_versions(table)
    except LookupError:
        return None
    for version in reversed(versions):
        mark = version.details.get("incremental") or {}
        if mark.get("key") == key and mark.get("watermark") is not None:
            return mark["watermark"]
    return None


def _watermark_record(value: Any) -> dict[str, Any]:
    import datetime as dt

    if isinstance(value, dt.datetime):
        return {"kind": "datetime", "value": value.isoformat()}
    if isinstance(value, dt.date):
        return {"kind": "date", "value": value.isoformat()}
    if isinstance(value, bool | int | float):
        return {"kind": type(value).__name__, "value": value}
    return {"kind": "str", "value": str(value)}


def _watermark_value(mark: dict[str, Any] | None) -> Any:
    """The stored watermark as the Python value the driver binds (a datetime stays a
    datetime, so PostgreSQL compares timestamps, not text)."""
    import datetime as dt

    if mark is None:
        return None
    kind, value = mark["kind"], mark["value"]
    if kind == "datetime":
        return dt.datetime.fromisoformat(value)
    if kind == "date":
        return dt.date.fromisoformat(value)
    return value


def _with_rejected(outcome: ValidationOutcome, landing: Landing) -> ValidationOutcome:
    """Add the messages refused before the door to the quarantined rows."""
    if not landing.rejected:
        return outcome
    start = outcome.rows + outcome.deduplicated
    refused = pl.DataFrame({
        ROW: pl.Series(range(start, start + len(landing.rejected)), dtype=pl.Int64),
        REASONS: pl.Series([[r] for r, _ in landing.rejected], dtype=pl.List(pl.String)),
        RAW_JSON: pl.Series([raw for _, raw in landing.rejected], dtype=pl.String)})
    counts = dict(outcome.counts)
    for reason, _ in landing.rejected:
        counts[reason] = counts.get(reason, 0) + 1
    return replace(outcome, quarantined=pl.concat([outcome.quarantined, refused],
                                                  how="vertical_relaxed"),
                   counts=counts, rows=outcome.rows + len(landing.rejected),
                   checks=[*outcome.checks, *sorted({r for r, _ in landing.rejected}
                                                    - set(outcome.checks))])


def _check_share(outcome: ValidationOutcome, contract: Contract, options: IngestOptions,
                 source: str, table: str) -> None:
    """The fail threshold: refuse the whole batch, before anything is written."""
    limit = options.max_quarantine_share
    if limit is None:
        limit = contract.max_quarantine_share
    if limit is None or outcome.rows == 0:
        return
    if outcome.quarantined.height / outcome.rows > limit:
        raise QuarantineShareError(table, source, outcome.rows, outcome.quarantined.height,
                                   limit, outcome.reasons)


def _batch_level(store: Store, table: str, stats: dict[str, dict[str, Any]],
                 categories: dict[str, dict[str, int]]) -> dict[str, CheckResult]:
    """Scale, null-share and category-set checks on the whole incoming batch."""
    previous = _previous_stats(store, table)
    found: dict[str, CheckResult] = {}
    for kind, flagged in (
            ("scale", scale_changes(stats, previous)),
            ("nulls", null_share_changes(stats, previous)),
            ("categories", category_changes(stats, previous, categories))):
        for name, message in flagged.items():
            found[f"{kind}:{name}"] = CheckResult(
                f"{kind}:{name}", ValidationStatus.FAILED, CheckLevel.BATCH, passed=0,
                failed=1, message=message)
    return found


def resolve_contract(table: str, contract: Contract | str | Path | None,
                     settings: Settings) -> Contract:
    """The contract given, or the table's current one.

    Raises:
        ContractError: none given and the table has never been ingested.
    """
    if contract is not None:
        return load_contract(contract)
    try:
        return contract_for(table, settings=settings)
    except LookupError:
        raise ContractError(
            f"No contract for table `{table}`: it has never been ingested. Pass one with "
            f"`--contract {table}.yaml` (draft it with `lockgate contract infer DATA.csv`)."
        ) from None


def read(table: str, version: int | None = None, *,
         settings: Settings | None = None) -> pl.DataFrame:
    """A table's rows as of a version (the latest by default).

    Inside a pipeline step, "the latest" is the version the run pinned when the step
    declares the table (``@step(inputs=["orders@latest"])``), and every read is recorded
    on the step run (a lineage edge, and a cached result goes stale when a table it read
    as "latest" has a newer version).

    Example:
        >>> lg.data.read("orders", version=3)

    Raises:
        NotFoundError: no such table or version.
    """
    settings = settings or load_settings()
    path = delta.table_path(settings, table)
    pinned = step_context.pinned_version(table) if version is None else None
    resolved = version if version is not None else pinned
    if resolved is None:
        resolved = delta.current_version(path)  # then read exactly that one
    frame = delta.read_version(path, table, resolved)
    if resolved is not None:
        step_context.record_read(table, resolved, latest=version is None and pinned is None)
    return frame


def contract_for(table: str, version: int | None = None, *,
                 settings: Settings | None = None) -> Contract:
    """The contract a table's version was landed under (the latest by default).

    Raises:
        NotFoundError: no such table or version.
    """
    settings = settings or load_settings()
    store = Store.open(settings)
    reconcile(store, settings, table)
    found = store.dataset_version(table, version)
    return Contract.from_dict(found.details["contract"])


def reconcile(store: Store, settings: Settings, table: str) -> int:
    """Register Delta commits the store does not know (a crash between the two writes).

    Returns:
        How many versions were registered.
    """
    path = delta.table_path(settings, table)
    latest = delta.current_version(path)
    if latest is None:
        return 0
    try:
        known_latest = store.dataset_version(table).version
    except LookupError:
        known_latest = None
    if known_latest == latest:
        return 0  # the usual case, one cheap query; gaps are filled on a mismatch
    if known_latest is not None and known_latest < latest and not any(
            entry["version"] > known_latest
            for entry in delta.commits(path, limit=latest - known_latest)):
        return 0  # only maintenance commits (`lockgate gc`: OPTIMIZE, VACUUM) since
    known = {v.version for v in store.dataset_versions(table)}
    added = 0
    for entry in delta.commits(path):
        if entry["version"] not in known:
            _register(store, table, entry["version"], entry["record"], None)
            added += 1
    return added


@dataclass(frozen=True, slots=True)
class Screening:
    """The door's verdict on a batch before anything lands.

    Attributes:
        outcome: accepted and quarantined rows.
        contract: the contract in force (evolved or not).
        warnings: batch-level findings to show.
        batch_checks: the schema check (the statistical ones are added when landing).
        changes: schema-change codes.
        stats: statistics of the whole incoming batch (every value that parsed).
        categories: rows per value of its category columns.
    """

    outcome: ValidationOutcome
    contract: Contract
    warnings: list[str]
    batch_checks: dict[str, CheckResult]
    changes: list[str]
    stats: dict[str, dict[str, Any]]
    categories: dict[str, dict[str, int]]
    #: The normalised batch (contract columns typed), for statistics kept by the caller.
    normalized: pl.DataFrame | None = None


def screen(batch: Batch, contract: Contract, settings: Settings, *,
           landed: DeltaTable | None = None, landing: Landing | None = None,
           upsert: bool = False, cross: CrossChunk | None = None,
           chunk: int = 0) -> Screening:
    """The door without landing: map, normalise, apply the schema policy, validate.

    ``landed``: the contract's table when the caller has it open (else it is opened to
    read the keys already landed). ``landing.dedupe_key``: the event id columns.
    ``cross``: the state of a batch read in chunks (``batch`` is then its chunk number
    ``chunk``): this chunk's keys are remembered (repeats across chunks are resolved at
    the end of the batch); the statistics are then left to the caller
    (``Screening.normalized``).
    """
    frame = batch.frame
    mapping = _absent_keys_as_null(batch, map_columns(frame.columns, contract), contract)
    normalized = normalize(frame, contract, mapping, decimal_comma=batch.decimal_comma,
                           text_later=batch.text is not None)
    present = _present_counts(normalized, contract, mapping)
    changes = schema_change.detect(mapping, normalized, contract, present)
    schema_change.enforce(changes, contract, batch.source)
    policy = contract.schema_policy
    warnings: list[str] = []
    batch_checks: dict[str, CheckResult] = {}
    holding = [c for c in changes if policy.for_kind(c.kind) == SchemaChangePolicy.QUARANTINE]
    if changes:
        batch_checks["schema"] = CheckResult(
            "schema", ValidationStatus.FAILED if holding else ValidationStatus.PASSED,
            CheckLevel.BATCH, passed=0, failed=len(changes),
            details={"policy": str(policy),
                     "changes": [{"kind": c.kind, "column": c.column,
                                  "policy": policy.for_kind(c.kind)} for c in changes]})
        warnings += [f"{c.detail} (on_schema_change {c.kind}: {policy.for_kind(c.kind)})"
                     for c in changes]
    codes = [c.code for c in changes]
    if holding:
        return Screening(_quarantine_all(normalized, contract, [c.code for c in holding],
                                         batch.text),
                         contract, warnings, batch_checks, codes, {}, {},
                         normalized.select(contract.column_names))
    evolved = schema_change.evolve(contract, changes, mapping, frame)
    ignored = schema_change.without_ignored_renames(mapping, changes, contract)
    if evolved is not contract or ignored is not mapping:
        if evolved is not contract:
            warnings.append(f"contract evolved from v{contract.version} to v{evolved.version}")
        contract = evolved
        mapping = _absent_keys_as_null(batch, map_columns(frame.columns, contract), contract)
        mapping = schema_change.without_ignored_renames(mapping, changes, contract)
        normalized = normalize(frame, contract, mapping, decimal_comma=batch.decimal_comma,
                           text_later=batch.text is not None)
    dedupe_key = tuple(k for k in (landing.dedupe_key if landing else ()) if k)
    index = landed_index(delta.table_path(settings, contract.table), landed,
                         identities(contract, dedupe_key), contract)
    existing = _existing_keys(index, normalized)
    landed_rows = _landed_rows(contract, normalized, existing, landed)
    normalized = mark_landed_conflicts(
        normalized, contract, None if index is None else index.landed_groups(normalized,
                                                                            contract))
    if cross is not None:
        cross.remember(normalized, copy_identity(normalized, contract), chunk)
    outcome = validate(normalized, contract, existing=existing, landed_rows=landed_rows,
                       dedupe_key=dedupe_key, upsert=upsert, source_text=batch.text)
    if cross is not None:
        return Screening(outcome, contract, warnings, batch_checks, codes, {}, {}, normalized)
    ingested = normalized if not outcome.copy_rows else normalized.with_row_index(
        "__i__").filter(~pl.col("__i__").is_in(list(outcome.copy_rows))).drop("__i__")
    stats = column_stats(ingested.select(contract.column_names), contract)
    categories = value_counts(ingested, contract, [c.name for c in contract.columns
                                                   if c.type in ("category", "bool")])
    return Screening(outcome, contract, warnings, batch_checks, codes, stats, categories)


def _landed_rows(contract: Contract, normalized: pl.DataFrame, existing: pl.DataFrame | None,
                 landed: DeltaTable | None) -> pl.DataFrame | None:
    """The landed rows whose primary key this batch repeats (to tell a copy of a landed
    row, which is skipped, from a different row under the same key)."""
    keys = list(contract.primary_key)
    if not keys or existing is None or landed is None or existing.is_empty() \
            or not all(k in existing.columns for k in keys):
        return None
    wanted = normalized.select(keys).join(existing.select(keys).unique(), on=keys, how="semi")
    if wanted.is_empty():
        return None
    import pyarrow.compute as pc

    names = set(landed.schema().to_arrow().names)
    columns = [c for c in contract.column_names if c in names]
    values = wanted[keys[0]].unique().to_arrow()
    found = pl.from_arrow(landed.to_pyarrow_dataset().to_table(
        columns=columns, filter=pc.field(keys[0]).isin(values)))
    assert isinstance(found, pl.DataFrame)
    return found.join(wanted.unique(), on=keys, how="semi") if len(keys) > 1 else found


def _absent_keys_as_null(batch: Batch, mapping: ColumnMapping,
                         contract: Contract) -> ColumnMapping:
    """In JSON records an absent key of a nullable column is a null (writers omit nulls),
    so it is not a schema change; a non-nullable column absent from every record still is.
    Within a batch the rule is the same for every record, whatever its neighbours hold."""
    if not batch.records or not mapping.missing:
        return mapping
    required = tuple(c for c in mapping.missing if not contract.column(c).nullable)
    return replace(mapping, missing=required)


def _quarantine_all(normalized: pl.DataFrame, contract: Contract, codes: list[str],
                    source_text: Callable[[Any], pl.DataFrame] | None = None,
                    ) -> ValidationOutcome:
    raw_cols = [c for c in normalized.columns if c.startswith("__src__")]
    if source_text is not None:  # typed at read: every row's source text, read again
        text = source_text(np.arange(normalized.height))
        normalized = normalized.drop(raw_cols).hstack(
            text.rename({c: RAW + c for c in text.columns}))
    quarantined = normalized.with_row_index(ROW).select(
        pl.col(ROW).cast(pl.Int64), pl.lit(codes, pl.List(pl.String)).alias(REASONS),
        raw_json(raw_cols).alias(RAW_JSON))
    counts = dict.fromkeys(codes, normalized.height)
    return ValidationOutcome(normalized.select(contract.column_names).head(0), quarantined,
                             counts, normalized.height, codes)


def _present_counts(normalized: pl.DataFrame, contract: Contract, mapping: Any) -> dict[str, int]:
    sourced = set(mapping.matched.values()) | {t for _, t in mapping.similar}
    names = [c for c in contract.column_names if c in sourced]
    if not names:
        return {}
    row = normalized.select(
        [(pl.col(n).is_not_null().sum() + pl.col(PARSE_FAIL + n).sum()).alias(n)
         for n in names]).row(0)
    return {n: int(v) for n, v in zip(names, row, strict=True)}


def identities(contract: Contract, dedupe_key: tuple[str, ...] = ()) -> dict[str, tuple[str, ...]]:
    """The keys the door checks against landed rows: the primary key, the event id
    (streams) and each unique column."""
    out: dict[str, tuple[str, ...]] = {}
    if contract.primary_key:
        out["primary_key"] = tuple(contract.primary_key)
    if dedupe_key:
        out["event_id"] = dedupe_key
    for spec in contract.columns:
        if spec.unique:
            out[spec.name] = (spec.name,)
    return out


def _existing_keys(index: LandedIndex | None, normalized: pl.DataFrame) -> pl.DataFrame | None:
    """The landed keys the batch repeats (the door's checks need no others), probed
    from the table's landed index in bounded memory."""
    if index is None or not index.identities:
        return None
    return index.keys(normalized)


def _write_quarantine(settings: Settings, table: str, outcome: ValidationOutcome,
                      record: dict[str, Any], landing: Landing) -> None:
    if outcome.quarantined.is_empty():
        return
    path = delta.quarantine_path(settings, table)
    opened = delta.open_table(path)
    quarantined = outcome.quarantined
    if landing.transaction is None and any(c["record"].get("batch_id") == record["batch_id"]
                                           for c in delta.commits(path, 50, table=opened)):
        return  # written by an attempt that crashed before the main commit
    if landing.transaction is not None and landing.positions is not None:
        # A stream batch redelivered after a crash between the two commits: the rows up
        # to the quarantine's committed position are already there.
        done = None if opened is None else opened.transaction_version(landing.transaction[0])
        if done is not None:
            keep = [i for i in quarantined[ROW].to_list() if landing.positions[i] > done]
            quarantined = quarantined.filter(pl.col(ROW).is_in(keep))
        if quarantined.is_empty():
            return
    rows = quarantine_table.quarantine_frame(
        quarantined, batch_id=record["batch_id"], source=record["source"],
        contract_version=record["contract_version"])
    if landing.row_ids is not None:
        ids = landing.row_ids
        rows = rows.with_columns(pl.Series("qid", [f"{record['batch_id']}:{ids[i]}"
                                                   for i in rows[ROW].to_list()]))
    delta.commit(path, rows, {"batch_id": record["batch_id"], "table": table},
                 transaction=landing.transaction, table=opened)


def _register(store: Store, table: str, version: int, record: dict[str, Any],
              run: Any) -> DatasetVersion:
    details = {**record.get("details", {}), "delta_version": version}
    try:
        found = store.add_dataset_version(
            table, version=version, source=record.get("source"), batch_id=record["batch_id"],
            rows_ingested=record["rows_ingested"], rows_accepted=record["rows_accepted"],
            rows_quarantined=record["rows_quarantined"], content_hash=record.get("content_hash"),
            contract_version=record.get("contract_version"),
            validation_status=record.get("validation_status", "not_run"),
            checks=record.get("checks"), details=details,
            run_id=getattr(run, "id", None),
        )
    except sa.exc.IntegrityError:
        found = store.dataset_version(table, version)  # registered by a concurrent reconcile
    if run is not None:
        run.produced(found, role=table)
    return found


def _landed_before(store: Store, table: str, content_hash: str,
                   contract_version: str) -> DatasetVersion | None:
    """The version that landed this content under this contract version (a new contract
    version may accept what the old one refused, so the same file may land again)."""
    for version in reversed(store.dataset_versions(table)):
        given = version.details.get("contract_given", version.contract_version)
        if version.content_hash == content_hash and given == contract_version:
            return version
    return None


def superseded_files(store: Store, path: StoragePath, table: str, content_hash: str,
                     contract_version: str, contract: Contract,
                     ) -> tuple[int, list[Any]] | None:
    """The earlier landing of the same source that a re-ingest under a new contract
    version replaces, and its data files to remove, for a table whose rows have no
    identity (no primary key): without one, a row landed twice can't be told from two
    rows, so the new batch *supersedes* the old one (its rows leave the table in the same
    commit, readable by time travel) instead of adding copies. None when nothing is
    superseded (a table with a key skips copies by key instead)."""
    if contract.primary_key or not content_hash:
        return None
    try:
        earlier = store.dataset_versions(table)
    except LookupError:
        return None
    current = delta.open_table(path)
    if current is None:
        return None
    present = {Path(u.removeprefix("file://")).name for u in current.file_uris()}
    for version in reversed(earlier):
        given = version.details.get("contract_given", version.contract_version)
        if version.content_hash != content_hash or given == contract_version \
                or version.details.get("superseded_by") is not None:
            continue
        removes = delta.added_files(path, version.version)
        if removes and all(Path(r.path).name in present for r in removes):
            return version.version, removes
    return None


def _previous_stats(store: Store, table: str) -> dict[str, dict[str, Any]]:
    """Per column, the statistics of the newest passed version that has them."""
    try:
        latest = store.dataset_version(table).version
    except LookupError:
        return {}
    key = f"{store.url}|{table}"
    cached = _STATS.get(key)
    if cached is not None and cached[0] == latest:
        return cached[1]
    merged: dict[str, dict[str, Any]] = {}
    for version in reversed(store.dataset_versions(table)):
        if version.validation_status != "passed":
            continue
        for name, stats in (version.details.get("stats") or {}).items():
            merged.setdefault(name, stats)
    _STATS[key] = (latest, merged)
    return merged


def _remember_stats(store: Store, dataset_version: DatasetVersion) -> None:
    key = f"{store.url}|{dataset_version.table_name}"
    cached = _STATS.get(key)
    if cached is None or cached[0] != dataset_version.version - 1:
        _STATS.pop(key, None)
        return
    merged = dict(cached[1])
    if dataset_version.validation_status == "passed":
        merged.update(dataset_version.details.get("stats") or {})
    _STATS[key] = (dataset_version.version, merged)
