"""Landing a batch read in chunks, in bounded memory and still as one atomic version.

Each chunk goes through the door on its own (normalise, schema policy, row checks,
batch statistics merged), its accepted rows staged as a Parquet file in the table and
its quarantined rows in the quarantine table; nothing is visible until the end. What
needs the whole batch is then done right: keys and labels repeated across chunks (an
earlier chunk's row that turns out to be a duplicate or a member of a conflicting group
leaves its staged file, which is rewritten), the content-hash idempotency check, the fail
threshold and the batch-level checks on the whole batch's statistics. Only then are the
staged files committed: the quarantine first, then the rows with the batch record, one
Delta version each. A failure or a kill before that commit leaves no version, only
unreferenced files (removed on failure; Delta's VACUUM removes those of a kill).

Memory: one chunk of rows, the staged files' list and mergeable statistics, whatever the
length of the batch; the keys and label groups that tie chunks together are spilled to
disk and resolved one partition at a time (see ``batch_index``).
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
import pyarrow as pa

from lockgate.config import Settings
from lockgate.data import quarantine as quarantine_table
from lockgate.data import table as delta
from lockgate.data.batch_index import CrossChunk, Repeats, key_values
from lockgate.data.check_name import CheckKind, check_name
from lockgate.data.check_result import CheckLevel, CheckResult, ValidationStatus, check_results
from lockgate.data.chunk_reader import Chunk, ChunkedRead
from lockgate.data.contract import Contract
from lockgate.data.errors import ContractError, QuarantineShareError, SourceError
from lockgate.data.landed_index import forget
from lockgate.data.statistics import BatchStats
from lockgate.data.validation import (
    RAW_JSON,
    REASONS,
    ROW,
    conflict_features,
    group_hash,
    group_id,
    group_label,
)
from lockgate.location import StoragePath

if TYPE_CHECKING:
    from lockgate.data.ingestion import IngestOptions, IngestResult
    from lockgate.tracking import Run

#: Called after each chunk with (rows read so far, bytes or rows of the source read).
ChunkProgress = Callable[[int, int], None]
#: Called with (chunk number, accepted rows) for each chunk's final accepted rows (a
#: chunk rewritten at the end is reported again under the same number): how the caller
#: computes mergeable profiles without the data stage depending on the quality stage.
ChunkObserver = Callable[[int, pl.DataFrame], None]


@dataclass(slots=True)
class _Staged:
    """One chunk's staged files and what is needed to rewrite them."""

    first_row: int
    rows: int
    accepted: delta.AddAction | None
    accepted_rows: int
    positions: Path | None  # accepted rows' positions in the chunk (.npy), if kept


@dataclass(slots=True)
class _Totals:
    rows: int = 0
    accepted: int = 0
    quarantined: int = 0
    deduplicated: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)
    copy_rows: list[int] = field(default_factory=list)

    def add(self, name: str, n: int) -> None:
        self.counts[name] = self.counts.get(name, 0) + n
        if name not in self.checks:
            self.checks.append(name)


def land_chunks(read: ChunkedRead, table: str, contract: Contract, *, settings: Settings,
                run: Run | None = None, options: IngestOptions | None = None,
                progress: ChunkProgress | None = None,
                observe: ChunkObserver | None = None) -> IngestResult:
    """Validate and land a chunked batch as one version (see the module docstring).

    Returns:
        The batch's ``IngestResult`` (``row_reasons`` left empty: a long batch's
        reasons live in the quarantine table, not in memory).

    Raises:
        QuarantineShareError: the fail threshold was crossed; nothing was written.
        SchemaChangeError, ContractError, SourceError: as ``ingest``; nothing was written.
    """
    from lockgate.data import ingestion

    options = options or ingestion.IngestOptions()
    store = ingestion.Store.open(settings)
    ingestion.reconcile(store, settings, table)
    if contract.table != table:
        raise ContractError(f"The contract is for table `{contract.table}`, not `{table}`. "
                            "Pass the right contract or table name.")
    path = delta.table_path(settings, table)
    qpath = delta.quarantine_path(settings, table)
    landed = delta.open_table(path)
    given = contract.version
    # scratch beside the table locally; a local temp folder when the table is on S3
    work = Path(tempfile.mkdtemp(prefix=".lockgate-chunks-",
                                 dir=_ensure(path.parent) if isinstance(path, Path) else None))
    staged: list[_Staged] = []
    quarantine_adds: list[delta.AddAction] = []
    held: list[Path] = []  # quarantined rows per chunk, before the batch id is known
    totals = _Totals()
    stats = BatchStats(contract)
    warnings: list[str] = []
    changes: list[str] = []
    batch_checks: dict[str, CheckResult] = {}
    source_name, schema = "", None
    cross: CrossChunk | None = None
    read.column_types = _typing(contract)
    try:
        for number, chunk in enumerate(read):
            source_name = chunk.source
            screened_from = contract
            screened, cross = _screen_chunk(chunk, contract, settings, landed, options,
                                            cross, number, work)
            contract = screened.contract
            if contract is not screened_from:  # the next chunks are read as it now says
                read.column_types = _typing(contract)
            for code in screened.changes:
                if code not in changes:
                    changes.append(code)
            for message in screened.warnings:
                if message not in warnings:
                    warnings.append(message)
            batch_checks.update(screened.batch_checks)
            outcome = screened.outcome
            if number == 0:
                delta.check_compatible(landed, table, outcome.accepted)
            stats.add(screened.normalized, number, outcome.copy_rows)
            if cross is not None:
                _remember_groups(cross, contract, screened.normalized, number)
            schema = schema or outcome.accepted.to_arrow().schema
            staged.append(_stage_chunk(path, work, number, chunk, outcome,
                                       cross is not None and cross.tracks(contract)))
            if not outcome.quarantined.is_empty():
                held.append(work / f"q{number}.parquet")
                outcome.quarantined.with_columns(pl.col(ROW) + chunk.first_row).write_parquet(
                    held[-1])
                if cross is not None and cross.tracks(contract):
                    _keep_values(work, number, screened.normalized, contract,
                                 outcome.quarantined[ROW])
            _count(totals, outcome, chunk.first_row)
            if observe is not None:
                observe(number, outcome.accepted)
            if progress is not None:
                progress(totals.rows + totals.deduplicated, chunk.read)
        if not staged:
            raise SourceError(f"{source_name or 'The source'} has no rows: nothing to ingest.")
        if cross is not None:
            held += _retract(path, work, staged, cross, contract, totals, stats, observe)
        content_hash = read.content_hash
        done = ingestion._landed_before(store, table, content_hash, given)
        if done is not None:
            _discard(path, qpath, staged, quarantine_adds)
            return ingestion.IngestResult(
                table=table, dataset_version=done, ingested=totals.rows + totals.deduplicated,
                accepted=0,
                quarantined=0, reasons={}, created=False, batch_id=done.batch_id or "",
                warnings=(f"same content already landed as {done.ref} under contract "
                          f"v{given}; nothing new was written",),
                contract_version=done.contract_version, chunks=len(staged))
        batch_id = hashlib.sha256(f"{content_hash}|{given}".encode()).hexdigest()[:16]
        _check_share(totals, contract, options, source_name, table)
        reasons = {k: v for k, v in sorted(totals.counts.items()) if v}
        record = _record(batch_id, source_name, content_hash, contract, given, totals,
                         reasons, stats, changes, warnings, options, batch_checks)
        statistical = ingestion._batch_level(store, table, stats.result(),
                                             stats.categories())
        record["checks"].update({n: r.to_dict() for n, r in statistical.items()})
        record["details"]["warnings"] += [c.message for c in statistical.values() if c.message]
        if any(not r.ok for r in check_results(record["checks"]).values()
               if r.level is CheckLevel.BATCH):
            record["validation_status"] = ValidationStatus.FAILED
        removes = _superseded(store, path, table, content_hash, given, contract, record)
        _commit_quarantine(qpath, held, quarantine_adds, record, table)
        adds = [s.accepted for s in staged if s.accepted is not None]
        version = delta.commit_staged(path, adds, schema or pa.schema([]), record,
                                      removes=removes, table=landed)
    except BaseException:
        _discard(path, qpath, staged, quarantine_adds)
        raise
    finally:
        _remove_tree(work)
    forget(path)
    dataset_version = ingestion._register(store, table, version, record, run)
    ingestion._remember_stats(store, dataset_version)
    return ingestion.IngestResult(
        table=table, dataset_version=dataset_version, ingested=totals.rows,
        accepted=totals.accepted, quarantined=totals.quarantined, reasons=reasons,
        created=True, batch_id=batch_id, warnings=tuple(record["details"]["warnings"]),
        contract_version=contract.version, deduplicated=totals.deduplicated, updated=0,
        row_reasons=(), copy_rows=tuple(totals.copy_rows[:10_000]), chunks=len(staged))


def _screen_chunk(chunk: Chunk, contract: Contract, settings: Settings, landed: Any,
                  options: Any, cross: CrossChunk | None, number: int,
                  work: Path) -> tuple[Any, Any]:
    from lockgate.data import ingestion
    from lockgate.data.source import Batch

    batch = Batch(chunk.frame, chunk.source, "", chunk.records, chunk.decimal_comma,
                  None if chunk.text is None else chunk.text.rows)
    if cross is None:
        cross = _cross_chunk(contract, work / "cross")
    screened = ingestion.screen(batch, contract, settings, landed=landed,
                                upsert=options.mode == "upsert", cross=cross, chunk=number)
    return screened, cross


def _typing(contract: Contract) -> Callable[[list[str]], dict[str, pl.DataType]]:
    """The CSV columns to parse typed at read: those matched to an int, float or bool
    column of the contract (by name, alias or spelling; a likely rename is left as text,
    as the schema policy decides what it is)."""
    def types(columns: list[str]) -> dict[str, pl.DataType]:
        from lockgate.data.normalize import map_columns

        matched = map_columns(columns, contract).matched
        return {source: contract.column(target).polars_dtype
                for source, target in matched.items()
                if contract.column(target).type in ("int", "float", "bool")}

    return types


def _cross_chunk(contract: Contract, folder: Path) -> CrossChunk:
    identities: dict[str, list[str]] = {}
    quarantine_all: dict[str, bool] = {}
    if contract.primary_key:
        identities["primary_key"] = list(contract.primary_key)
        quarantine_all["primary_key"] = contract.on_duplicate == "quarantine"
    for spec in contract.columns:
        if spec.unique:
            identities[spec.name] = [spec.name]
            quarantine_all[spec.name] = True
    return CrossChunk(identities, quarantine_all, folder)


def _remember_groups(cross: CrossChunk, contract: Contract, normalized: pl.DataFrame,
                     number: int) -> None:
    features = conflict_features(contract)
    if features is None or normalized.is_empty():
        return
    from lockgate.data.normalize import PARSE_FAIL

    parsed = ~pl.any_horizontal([pl.col(PARSE_FAIL + c)
                                 for c in (*features, contract.target or "")])
    pairs = normalized.filter(parsed & pl.col(contract.target or "").is_not_null()).select(
        group_hash(features).alias("g"), group_label(contract).hash(seed=5).alias("l"))
    cross.remember_groups(number, pairs["g"].to_numpy().view(np.int64),
                          pairs["l"].to_numpy().view(np.int64))


def _stage_chunk(path: StoragePath, work: Path, number: int, chunk: Chunk, outcome: Any,
                 tracked: bool) -> _Staged:
    """Stage a chunk's accepted rows; when rows may have to leave them later, keep
    (on disk) each accepted row's position in the chunk."""
    accepted = outcome.accepted
    action = delta.stage_file(path, accepted) if accepted.height else None
    positions = None
    if tracked and accepted.height:
        keep = np.ones(chunk.frame.height, bool)
        keep[outcome.quarantined[ROW].to_numpy()] = False
        keep[list(outcome.copy_rows)] = False
        positions = work / f"{number}.npy"
        np.save(positions, np.flatnonzero(keep))
    return _Staged(chunk.first_row, chunk.frame.height, action, accepted.height, positions)


def _keep_values(work: Path, number: int, normalized: pl.DataFrame, contract: Contract,
                 rows: pl.Series) -> None:
    """A chunk's quarantined rows' typed values (they live on as raw JSON only), so the
    batch statistics can take out those found to be copies at the end of the batch."""
    positions = rows.cast(pl.Int64)  # ascending: the rows in the chunk's order
    normalized.select(pl.col(contract.column_names).gather(positions)).insert_column(
        0, positions.alias(ROW)).write_parquet(work / f"n{number}.parquet")


def _count(totals: _Totals, outcome: Any, first_row: int) -> None:
    totals.rows += outcome.rows
    totals.accepted += outcome.accepted.height
    totals.quarantined += outcome.quarantined.height
    totals.deduplicated += outcome.deduplicated
    for name in outcome.checks:
        totals.add(name, outcome.counts.get(name, 0))
    if len(totals.copy_rows) < 10_000:
        totals.copy_rows += [first_row + r for r in outcome.copy_rows]


def _retract(path: StoragePath, work: Path, staged: list[_Staged], cross: CrossChunk,
             contract: Contract, totals: _Totals, stats: BatchStats,
             observe: ChunkObserver | None) -> list[Path]:
    """Apply what only the whole batch shows, chunk by chunk: rows of a later chunk whose
    key came earlier leave the accepted rows (an exact copy is skipped, another row is
    quarantined as a duplicate; already quarantined, it gets that reason too), so do the
    first rows of such keys when every member fails, and the members of a feature group
    whose label differs in another chunk."""
    repeats = cross.repeats()
    conflicts = cross.conflicting_groups()
    held: list[Path] = []
    for number in sorted(repeats.chunks() | set(conflicts)):
        entry = staged[number]
        quarantined = work / f"q{number}.parquet"
        if quarantined.exists():
            _amend_quarantined(quarantined, number, entry, repeats, cross, totals, stats,
                               work)
        if entry.accepted is None or entry.positions is None:
            continue
        moved = _move_accepted(path, work, entry, number, repeats, conflicts.get(number),
                               cross, contract, totals, stats)
        if moved is not None:
            if moved[0] is not None:
                held.append(moved[0])
            if observe is not None:
                observe(number, moved[1])
    return held


def _codes(cross: CrossChunk) -> dict[str, str]:
    return {name: check_name(CheckKind.DUPLICATE, "+".join(keys)) if name == "primary_key"
            else check_name(CheckKind.UNIQUE, name)
            for name, keys in cross.identities.items()}


def _move_accepted(path: StoragePath, work: Path, entry: _Staged, number: int,
                   repeats: Repeats, groups: set[int] | None, cross: CrossChunk,
                   contract: Contract, totals: _Totals,
                   stats: BatchStats) -> tuple[Path | None, pl.DataFrame] | None:
    """Rewrite one chunk's staged accepted rows without its late-found failures (into a
    quarantine part file, returned) and its exact copies (skipped)."""
    if entry.accepted is None or entry.positions is None:
        return None
    positions = np.load(entry.positions)
    copies = repeats.copies.get(number)
    copy = np.isin(positions, copies) if copies is not None else np.zeros(len(positions), bool)
    codes = _codes(cross)
    frame: pl.DataFrame | None = None
    reasons: list[pl.Expr] = []
    for name, keys in cross.identities.items():
        hit = np.zeros(len(positions), bool)
        later = repeats.seen.get(number, {}).get(name)
        if later is not None:
            hit |= np.isin(positions, later)
        wanted = repeats.retract.get(number, {}).get(name)
        if wanted:
            frame = frame if frame is not None else delta.read_staged(path, entry.accepted)
            values, present = key_values(frame, keys)
            hit |= present & np.isin(values, np.fromiter(wanted, np.int64))
        if hit.any():
            reasons.append(pl.when(pl.Series(hit)).then(pl.lit(codes[name])))
    features = conflict_features(contract)
    if groups and features is not None:
        frame = frame if frame is not None else delta.read_staged(path, entry.accepted)
        hashed = frame.select(group_hash(features)).to_series().to_numpy().view(np.int64)
        member = np.isin(hashed, np.fromiter(groups, np.int64))
        if member.any():
            reasons.append(pl.when(pl.Series(member)).then(
                pl.lit(check_name(CheckKind.CONFLICT, contract.target or "") + "#")
                + group_id(group_hash(features))))
    if not reasons and not copy.any():
        return None
    frame = frame if frame is not None else delta.read_staged(path, entry.accepted)
    stats.remove(frame.filter(pl.Series(copy)), number, positions[copy])
    listed = frame.select(pl.concat_list(reasons).list.drop_nulls().alias(REASONS)) \
        if reasons else pl.DataFrame({REASONS: [[]] * frame.height},
                                     schema={REASONS: pl.List(pl.String)})
    failed = (listed[REASONS].list.len() > 0).to_numpy() & ~copy
    part = None
    if failed.any():
        out = frame.filter(failed)
        part = work / f"r{number}.parquet"
        pl.DataFrame({
            ROW: pl.Series(positions[failed] + entry.first_row, dtype=pl.Int64),
            REASONS: listed.filter(failed)[REASONS],
            RAW_JSON: out.select(pl.struct(pl.all()).struct.json_encode()).to_series(),
        }).write_parquet(part)
        for found in listed.filter(failed)[REASONS].to_list():
            for code in {c.split("#")[0] for c in found}:
                totals.add(code, 1)
    kept = frame.filter(~failed & ~copy)
    delta.discard_staged(path, [entry.accepted])
    entry.accepted = delta.stage_file(path, kept) if kept.height else None
    moved, skipped = int(failed.sum()), int(copy.sum())
    totals.accepted -= moved + skipped
    totals.quarantined += moved
    _skip(totals, positions[copy] + entry.first_row)
    return part, kept


def _amend_quarantined(part: Path, number: int, entry: _Staged, repeats: Repeats,
                       cross: CrossChunk, totals: _Totals, stats: BatchStats,
                       work: Path) -> None:
    """A chunk's quarantined rows that the whole batch shows to be exact copies leave
    (skipped, their reasons uncounted); those whose key came earlier with other values
    get the duplicate reason as well."""
    frame = pl.read_parquet(part)
    rows = frame[ROW].to_numpy() - entry.first_row
    copies = repeats.copies.get(number)
    copy = np.isin(rows, copies) if copies is not None else np.zeros(len(rows), bool)
    changed = bool(copy.any())
    extra: list[pl.Expr] = []
    for name, code in _codes(cross).items():
        later = repeats.seen.get(number, {}).get(name)
        if later is None:
            continue
        hit = np.isin(rows, later) & ~copy
        if hit.any():
            has = frame[REASONS].list.contains(code).to_numpy()
            add = hit & ~has
            if add.any():
                totals.add(code, int(add.sum()))
                extra.append(pl.when(pl.Series(add)).then(pl.lit(code))
                             .otherwise(pl.lit(None, pl.String)))
                changed = True
    if not changed:
        return
    for found in frame.filter(pl.Series(copy))[REASONS].to_list():
        for code in {c.split("#")[0] for c in found}:
            totals.counts[code] = totals.counts.get(code, 0) - 1
    if extra:
        frame = frame.with_columns(pl.concat_list([pl.col(REASONS), *extra])
                                   .list.drop_nulls().alias(REASONS))
    totals.quarantined -= int(copy.sum())
    _skip(totals, rows[copy] + entry.first_row)
    if copy.any():
        values = pl.read_parquet(work / f"n{number}.parquet")
        gone = values.filter(pl.col(ROW).is_in(pl.Series(rows[copy]).implode()))
        stats.remove(gone.drop(ROW), number, rows[copy])
    frame.filter(~pl.Series(copy)).write_parquet(part)


def _skip(totals: _Totals, rows: np.ndarray) -> None:
    """Rows found to be exact copies of an earlier chunk's: skipped, not ingested."""
    n = len(rows)
    totals.rows -= n
    totals.deduplicated += n
    if len(totals.copy_rows) < 10_000:
        totals.copy_rows += rows[:10_000 - len(totals.copy_rows)].tolist()


def _check_share(totals: _Totals, contract: Contract, options: Any, source: str,
                 table: str) -> None:
    limit = options.max_quarantine_share
    if limit is None:
        limit = contract.max_quarantine_share
    if limit is None or totals.rows == 0:
        return
    if totals.quarantined / totals.rows > limit:
        raise QuarantineShareError(table, source, totals.rows, totals.quarantined, limit,
                                   {k: v for k, v in sorted(totals.counts.items()) if v})


def _record(batch_id: str, source: str, content_hash: str, contract: Contract, given: str,
            totals: _Totals, reasons: dict[str, int], stats: BatchStats, changes: list[str],
            warnings: list[str], options: Any,
            batch_checks: dict[str, CheckResult]) -> dict[str, Any]:
    rows = {name: CheckResult(name, ValidationStatus.PASSED, CheckLevel.ROW,
                              passed=totals.rows - totals.counts.get(name, 0),
                              failed=totals.counts.get(name, 0)) for name in totals.checks}
    checks = {name: r.to_dict() for name, r in {**rows, **batch_checks}.items()}
    status = (ValidationStatus.FAILED if any(not c.ok for c in batch_checks.values())
              else ValidationStatus.PASSED)
    return {
        "batch_id": batch_id, "source": source, "content_hash": content_hash,
        "contract_version": contract.version, "rows_ingested": totals.rows,
        "rows_accepted": totals.accepted, "rows_quarantined": totals.quarantined,
        "validation_status": status, "checks": checks,
        "details": {"reasons": reasons, "stats": stats.result(),
                    "contract": contract.to_dict(), "contract_given": given,
                    "schema_changes": changes, "warnings": list(warnings),
                    "deduplicated": totals.deduplicated, "updated": 0,
                    "mode": options.mode, "chunked": True},
        "landed_at": time.time(),
    }


def _superseded(store: Any, path: StoragePath, table: str, content_hash: str, given: str,
                contract: Contract, record: dict[str, Any]) -> list[Any] | None:
    from lockgate.data.ingestion import superseded_files

    found = superseded_files(store, path, table, content_hash, given, contract)
    if found is None:
        return None
    version, removes = found
    record["details"]["supersedes"] = version
    record["details"]["warnings"].append(
        f"supersedes {table}@v{version} (the same source under contract "
        f"v{store.dataset_version(table, version).contract_version}): its rows leave the "
        "table, still readable by time travel")
    return removes


def _commit_quarantine(qpath: StoragePath, held: list[Path], adds: list[delta.AddAction],
                       record: dict[str, Any], table: str) -> None:
    """The quarantine's own commit, before the rows' (as the whole-batch path does),
    skipped when an attempt that crashed before the rows' commit already made it."""
    batch_id = record["batch_id"]
    if not held or any(c["record"].get("batch_id") == batch_id
                       for c in delta.commits(qpath, 50)):
        return
    schema = None
    for part in held:
        frame = quarantine_table.quarantine_frame(
            pl.read_parquet(part), batch_id=batch_id, source=record["source"],
            contract_version=record["contract_version"])
        schema = schema or frame.to_arrow().schema
        adds.append(delta.stage_file(qpath, frame))
    if schema is None:  # pragma: no cover - held is not empty
        return
    delta.commit_staged(qpath, adds, schema, {"batch_id": batch_id, "table": table})


def _discard(path: StoragePath, qpath: StoragePath, staged: list[_Staged],
             quarantine_adds: list[delta.AddAction]) -> None:
    delta.discard_staged(path, [s.accepted for s in staged if s.accepted is not None])
    delta.discard_staged(qpath, quarantine_adds)


def _ensure(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _remove_tree(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


__all__ = ["ChunkObserver", "ChunkProgress", "land_chunks"]

