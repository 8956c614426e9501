"""Batch scoring: a registered model over a file or a table, through the same door as
ingestion and into the same prediction log as the server.

Every chunk is mapped to the model's contract (aliases and spellings as at ingestion),
normalised and validated with the same checks; rows that fail are quarantined with
their reasons and their source values, never dropped, so ``scored + quarantined ==
read``. Accepted rows are predicted in one model call per chunk.

Memory is bounded by the chunk, whatever the input's length:

- the output file is written once, streamed chunk by chunk beside its final name and
  renamed at the end (a Delta output and the quarantine are staged on disk per chunk
  and committed at the end), so a failure halfway leaves no partial output;
- each chunk's predictions are committed to the prediction log as soon as they are
  made, stamped ``logged_at`` at that commit, as the server's micro-batches are. The
  monitor buckets rows by ``logged_at`` and closes a bucket ``settle`` seconds after it
  ends, so a row must be visible moments after its stamp: one commit at the end of a long
  job would either hold the whole log in memory or put its first chunks into buckets
  already closed. Predictions made before a failure stay logged (they were made); the
  error says how many, under which batch id.

Logged rows carry the batch id, so monitoring, feedback and retraining treat batch and
online predictions alike.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake.transaction import AddAction

from lockgate.config import Settings, load_settings
from lockgate.data.contract import Contract
from lockgate.data.normalize import ColumnMapping, map_columns, normalize
from lockgate.data.table import commit_files, discard_staged, stage_file
from lockgate.data.validation import REASONS, ROW, validate
from lockgate.errors import LockgateError
from lockgate.location import ObjectLocation, StoragePath
from lockgate.registry import Registry
from lockgate.registry.prediction_profile import prediction_frame
from lockgate.serving.batch_input import BatchInput, open_input
from lockgate.serving.prediction_log import (
    TIMESTAMP,
    LogTable,
    context_columns,
    predictions_path,
)
from lockgate.store import Store

#: ``progress(rows_done, rows_total_or_None)`` after every chunk.
BatchProgress = Callable[[int, int | None], None]
SCORES_DIR = "_scores"
OUTPUT_FORMATS = (".parquet", ".csv", ".jsonl")
#: Output columns whose values repeat (dictionary-encoded in a Parquet output).
REPEATED_OUTPUT = ("prediction", "batch_id")
#: Columns of a file output when every row was quarantined (no chunk set its schema).
EMPTY_OUTPUT = {"row": pl.Int64, "prediction": pl.String, "request_id": pl.String,
                "batch_id": pl.String}


class BatchScoringError(LockgateError, ValueError):
    """Batch scoring cannot run as asked (input columns, output, model)."""


@dataclass(frozen=True, slots=True)
class BatchScoringResult:
    """What one batch-scoring job did; ``rows_scored + rows_quarantined == rows_read``."""

    batch_id: str
    model_name: str
    model_version: int
    source: str
    output: str
    quarantine: str | None
    rows_read: int
    rows_scored: int
    rows_quarantined: int
    reasons: dict[str, int] = field(default_factory=dict)
    ignored_columns: tuple[str, ...] = ()
    logged: int = 0
    chunks: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        """Rows read per wall second, door and model included."""
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (``lockgate predict --json``)."""
        return {**dataclasses.asdict(self), "rows_per_second": self.rows_per_second}


def predict_batch(ref: str, source: str | Path, *, out: str | Path,
                  settings: Settings | None = None, chunk_rows: int = 50_000,
                  log_predictions: bool = True, progress: BatchProgress | None = None
                  ) -> BatchScoringResult:
    """Score a file (CSV / Parquet / JSON Lines) or a table (``orders@v3``) with a
    registered model (``churn@production``).

    Args:
        ref: the model: ``NAME``, ``NAME@ALIAS`` or ``NAME@VERSION``.
        source: a file path, or ``TABLE[@VERSION]`` of a lockgate table.
        out: ``PATH.parquet|.csv|.jsonl``, or ``table:NAME`` for a Delta table under
            ``<data_root>/_scores/NAME`` (appended to, one commit per job).
        chunk_rows: rows per chunk (memory stays bounded by a few chunks).
        log_predictions: append every prediction to the model's prediction log.
        progress: called after every chunk with rows done and the total (if known).

    Raises:
        BatchScoringError: a column the model needs is missing, or ``out`` is unusable.
        NotFoundError: no such model, version, file or table.

    Example:
        >>> lg.serving.predict_batch("churn@production", "customers.csv",
        ...                          out="scores.parquet")
    """
    settings = settings or load_settings()
    output = _Output.parse(out, settings)
    registry = Registry(Store.open(settings), settings)
    mv = registry.resolve(ref)
    package = registry.load(mv)
    job = _Job(mv.name, mv.version, package, open_input(source, settings), settings, output)
    return job.run(chunk_rows, log_predictions, progress)


def scoring_contract(contract: Contract) -> Contract:
    """The contract a scoring input is held to: the model's features with their checks,
    plus the key, entity and event-time columns (optional; passed through to the output
    and the prediction log when present, so a labeled prediction can become a training
    row), no target, no uniqueness (scoring the same customer twice is not an error)."""
    keys = [*contract.primary_key, *([contract.entity] if contract.entity else []),
            *([contract.event_time] if contract.event_time else [])]
    wanted = set(contract.feature_columns) | set(keys)
    columns = tuple(dataclasses.replace(c, unique=False, nullable=c.nullable or c.name in keys)
                    for c in contract.columns if c.name in wanted)
    return Contract(contract.table, contract.version, columns)


@dataclass(slots=True)
class _Output:
    """Where scores go: a file (written beside, renamed at the end) or a Delta table."""

    target: StoragePath  # a local file, or a table under the data root (maybe s3://)
    kind: str  # parquet | csv | jsonl | table
    label: str

    @classmethod
    def parse(cls, out: str | Path, settings: Settings) -> _Output:
        text = str(out)
        if text.startswith("table:"):
            from lockgate.data.contract import check_table_name

            name = check_table_name(text.removeprefix("table:"))
            return cls(settings.resolved_data_root / SCORES_DIR / name, "table", text)
        path = Path(text)
        if path.suffix.lower() not in OUTPUT_FORMATS:
            raise BatchScoringError(
                f"Cannot write scores to `{text}`: use a path ending in "
                f"{', '.join(OUTPUT_FORMATS)}, or `table:NAME` for a Delta table.")
        if path.is_dir():
            raise BatchScoringError(f"`{text}` is a folder; give a file name.")
        return cls(path, path.suffix.lower().lstrip("."), str(path))

    def quarantine_path(self, batch_id: str) -> StoragePath:
        if self.kind == "table":
            return self.target.parent / f"{self.target.name}.quarantine-{batch_id}.parquet"
        target = self.target
        if not isinstance(target, Path):  # pragma: no cover - file outputs are local
            raise BatchScoringError(f"`{target}` is not a local file.")
        return target.with_name(self.target.name + ".quarantine.parquet")


class _Job:
    """One scoring job: chunks in; the log committed per chunk, the outputs at the end."""

    def __init__(self, name: str, version: int, package: Any, source: BatchInput,
                 settings: Settings, output: _Output) -> None:
        self.name, self.version, self.package = name, version, package
        self.source, self.settings, self.output = source, settings, output
        self.contract: Contract = package.contract
        self.scoring = scoring_contract(self.contract)
        self.features = [c for c in package.feature_columns]
        self.keys = [c.name for c in self.scoring.columns if c.name not in self.features]
        self.context = context_columns(package.contract, self.features)
        self.problem_type = str(package.evaluation.get("problem_type", "binary"))
        self.batch_id = f"b{uuid.uuid4().hex[:12]}"
        root = settings.resolved_data_root
        # Staged parts are scratch: beside the tables locally, in a local temp folder
        # when the tables are on object storage (only the final commit goes there).
        self.staging = (root / SCORES_DIR / f".staging-{self.batch_id}"
                        if isinstance(root, Path) else
                        Path(tempfile.mkdtemp(prefix=f"lockgate-scoring-{self.batch_id}-")))
        self.counts = {"read": 0, "scored": 0, "quarantined": 0, "logged": 0,
                       "logged_chunks": 0}
        self.log_path = predictions_path(settings, name)
        self.log_table = LogTable(self.log_path)
        self.reasons: dict[str, int] = {}
        self.ignored: tuple[str, ...] = ()
        self.cpu = 0.0
        self.sink: _StagedTable | _StreamedFile = (
            _StagedTable(output.target) if output.kind == "table"
            else _StreamedFile(_local_file(output.target), output.kind))

    def run(self, chunk_rows: int, log: bool, progress: BatchProgress | None
            ) -> BatchScoringResult:
        if chunk_rows < 1:
            raise BatchScoringError(f"chunk_rows must be at least 1, got {chunk_rows}.")
        started = time.perf_counter()
        (self.staging / "quarantine").mkdir(parents=True, exist_ok=True)
        try:
            index = -1
            for index, chunk in enumerate(self.source.chunks(chunk_rows)):
                self._chunk(index, chunk, log)
                if progress is not None:
                    progress(self.counts["read"], self.source.rows)
            quarantine = self._commit()
        except BaseException as exc:
            exc.add_note(self._failure_note())
            raise
        finally:
            self.sink.abort()  # no-op once committed
            shutil.rmtree(self.staging, ignore_errors=True)
        return BatchScoringResult(
            self.batch_id, self.name, self.version, self.source.label, self.output.label,
            quarantine, self.counts["read"], self.counts["scored"],
            self.counts["quarantined"], dict(sorted(self.reasons.items())), self.ignored,
            self.counts["logged"], index + 1, time.perf_counter() - started, self.cpu)

    def _failure_note(self) -> str:
        logged, chunks = self.counts["logged"], self.counts["logged_chunks"]
        head = (f"Scoring batch {self.batch_id} with {self.name}@{self.version} stopped: no "
                "output was written")
        if not logged:
            return f"{head}, and no prediction was logged."
        return (f"{head}. {logged} predictions of {chunks} chunks made before the failure "
                f"are in the prediction log {self.log_path} with batch_id {self.batch_id}; "
                "a rerun scores under a new batch id.")

    def _mapping(self, chunk: pl.DataFrame, first: bool) -> ColumnMapping:
        """The chunk's columns mapped to the contract. A column the model needs that the
        first chunk lacks fails the job before anything is scored (a file's columns are
        the same in every chunk); records of a JSON Lines file are shaped one by one, so
        a later chunk's missing field is a null in those rows, which quarantines them."""
        mapping = map_columns(chunk.columns, self.scoring)
        # a look-alike name is a question for the contract, not something to guess here
        new = (*mapping.new, *(s for s, _ in mapping.similar))
        missing = (*mapping.missing, *(t for _, t in mapping.similar))
        required = [c for c in missing if c in self.features
                    and not self.scoring.column(c).nullable]
        if required and first:
            raise BatchScoringError(
                f"{self.source.label} has no column(s) {', '.join(required)} that model "
                f"{self.name}@{self.version} needs (and the contract does not allow null). "
                f"Columns found: {', '.join(chunk.columns)}. Rename them, or declare the "
                "source's names as `aliases` in the contract.")
        self.ignored = tuple(dict.fromkeys((*self.ignored, *new)))
        return ColumnMapping(mapping.matched, tuple(new), tuple(missing), ())

    def _chunk(self, index: int, chunk: pl.DataFrame, log: bool) -> None:
        offset = self.counts["read"]
        normalized = normalize(chunk, self.scoring, self._mapping(chunk, index == 0))
        outcome = validate(normalized, self.scoring)
        bad_rows = outcome.quarantined[ROW]
        rows = (pl.int_range(chunk.height, eager=True, dtype=pl.Int64)
                .filter(~pl.int_range(chunk.height, eager=True, dtype=pl.Int64)
                        .is_in(bad_rows.implode())))
        self.counts["read"] += chunk.height
        self._quarantine(index, outcome.quarantined, offset)
        accepted = outcome.accepted
        if accepted.height == 0:
            return
        wall, cpu = time.perf_counter(), time.thread_time()
        scores = prediction_frame(self.package.pipeline, accepted, self.features,
                                  self.problem_type)
        wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
        self.cpu += cpu
        ids = (f"{self.batch_id}-{index}-"
               + pl.int_range(accepted.height, eager=True).cast(pl.String)).alias("request_id")
        out = pl.concat([pl.DataFrame({"row": rows + offset}),
                         accepted.select(self.keys), scores,
                         pl.DataFrame([ids, pl.Series("batch_id", [self.batch_id]
                                                      * accepted.height)])],
                        how="horizontal")
        self.sink.write(out)
        self.counts["scored"] += accepted.height
        if log:
            self._log(accepted, scores, ids, wall * 1000, cpu * 1000)

    def _quarantine(self, index: int, quarantined: pl.DataFrame, offset: int) -> None:
        if quarantined.height == 0:
            return
        self.counts["quarantined"] += quarantined.height
        for reasons in quarantined[REASONS].to_list():
            for reason in reasons:
                self.reasons[reason] = self.reasons.get(reason, 0) + 1
        quarantined.with_columns(pl.col(ROW) + offset).write_parquet(
            self.staging / "quarantine" / f"{index:08d}.parquet")

    def _log(self, accepted: pl.DataFrame, scores: pl.DataFrame, ids: pl.Series,
             wall_ms: float, cpu_ms: float) -> None:
        """Commit this chunk's predictions to the log now (``logged_at`` = this commit)."""
        n = accepted.height
        now = pl.lit(time.time() * 1e6).cast(pl.Int64).cast(TIMESTAMP)
        frame = pl.concat([
            pl.DataFrame([ids]),
            accepted.select([pl.col(f).cast(self.contract.column(f).polars_dtype)
                             for f in (*self.features, *self.context)]),
            scores.select(pl.col("prediction").cast(
                pl.Float64 if self.problem_type == "regression" else pl.Utf8),
                (pl.col("probability") if "probability" in scores.columns
                 else pl.lit(None, pl.Float64)).alias("probability")),
        ], how="horizontal").with_columns(
            now.alias("timestamp"), pl.lit(self.name).alias("model_name"),
            pl.lit(self.version, pl.Int64).alias("model_version"),
            pl.lit(wall_ms / n).alias("latency_ms"),
            pl.lit(wall_ms).alias("request_latency_ms"),
            pl.lit(n, pl.Int64).alias("request_rows"), pl.lit(cpu_ms / n).alias("cpu_ms"),
            pl.lit(self.batch_id).alias("batch_id"))
        self.log_table.append(frame)
        self.counts["logged"] += n
        self.counts["logged_chunks"] += 1

    def _commit(self) -> str | None:
        quarantine = None
        if self.counts["quarantined"]:
            path = self.output.quarantine_path(self.batch_id)
            _concat_parquet(self.staging / "quarantine", path)
            quarantine = str(path)
        self.sink.commit()
        return quarantine


def _parts(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.parquet"))


class _StagedTable:
    """A Delta output table, written once: each chunk staged as a file inside the table
    (invisible until listed in a commit), all of them committed as one version by
    :meth:`commit`, removed by :meth:`abort`, as ingestion lands a batch."""

    def __init__(self, target: StoragePath) -> None:
        self.target = target
        self.adds: list[AddAction] = []
        self.schema: pa.Schema | None = None
        self.done = False

    def write(self, frame: pl.DataFrame) -> None:
        self.schema = self.schema or frame.to_arrow().schema
        self.adds.append(stage_file(self.target, frame))

    def commit(self) -> None:
        if self.adds and self.schema is not None:
            commit_files(self.target, self.adds, self.schema)
        self.done = True

    def abort(self) -> None:
        if not self.done:
            discard_staged(self.target, self.adds)


def _concat_parquet(parts: Path, target: StoragePath) -> None:
    """One Parquet file from the staged parts, never visible half-written: renamed into
    place locally, stored with a verified atomic put on object storage."""
    if isinstance(target, ObjectLocation):
        from lockgate.artifacts.object_store import S3ObjectStore

        local = parts / "all.parquet.partial"
        pl.scan_parquet(_parts(parts)).sink_parquet(local)
        sha = hashlib.sha256(local.read_bytes()).hexdigest()
        S3ObjectStore(target.parent).put_atomic(target.name, local, sha)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    pl.scan_parquet(_parts(parts)).sink_parquet(partial)
    partial.replace(target)


def _local_file(target: StoragePath) -> Path:
    if not isinstance(target, Path):  # pragma: no cover - file outputs are local
        raise BatchScoringError(f"`{target}` is not a local file.")
    return target


class _StreamedFile:
    """The output file, written once: chunk by chunk into ``NAME.partial`` beside it,
    renamed into place by :meth:`commit`, removed by :meth:`abort` (no partial file)."""

    def __init__(self, target: Path, kind: str) -> None:
        self.target, self.kind = target, kind
        self.partial = target.with_name(target.name + ".partial")
        self.parquet: pq.ParquetWriter | None = None
        self.handle: Any = None
        self.done = False

    def write(self, frame: pl.DataFrame) -> None:
        if self.kind == "parquet":
            table = frame.to_arrow()
            if self.parquet is None:
                self._open()
                # dictionaries only where values repeat: a unique request id per row
                # makes the writer build one and throw it away on every page
                self.parquet = pq.ParquetWriter(self.partial, table.schema,
                                                use_dictionary=list(REPEATED_OUTPUT))
            self.parquet.write_table(table.cast(self.parquet.schema))
            return
        first = self.handle is None
        if first:
            self._open()
            self.handle = self.partial.open("wb")
        if self.kind == "csv":
            frame.write_csv(self.handle, include_header=first)
        else:
            frame.write_ndjson(self.handle)

    def commit(self) -> None:
        if self.parquet is None and self.handle is None:  # every row quarantined
            self.write(pl.DataFrame(schema=EMPTY_OUTPUT))
        self._close()
        self.partial.replace(self.target)
        self.done = True

    def abort(self) -> None:
        if not self.done:
            self._close()
            self.partial.unlink(missing_ok=True)

    def _open(self) -> None:
        self.target.parent.mkdir(parents=True, exist_ok=True)

    def _close(self) -> None:
        if self.parquet is not None:
            self.parquet.close()
            self.parquet = None
        if self.handle is not None:
            self.handle.close()
            self.handle = None
