"""The prediction log and the feedback log: Delta tables written in micro-batches.

Requests only append to an in-memory buffer; a background thread writes the buffer to
Delta every ``flush_seconds`` (or sooner when it grows past ``max_rows``), so no
request waits on the disk. ``close()`` writes everything still buffered; a batch that
cannot be written is retried, and if the table stays unwritable at shutdown the rows
are spilled to a JSON-lines file beside it rather than lost.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl
from deltalake import DeltaTable

from lockgate.config import Settings
from lockgate.data.contract import Contract
from lockgate.data.table import commit_files, open_table, stage_file
from lockgate.errors import NotFoundError
from lockgate.location import StoragePath, storage_options

log = logging.getLogger("lockgate.serving")

TIMESTAMP = pl.Datetime("us", "UTC")
#: Folders under the data root: ``<data_root>/_predictions/<model>``, ``_feedback/<model>``.
PREDICTIONS_DIR = "_predictions"
FEEDBACK_DIR = "_feedback"
#: Columns every row of a prediction log starts with, then the model's features.
KEY_COLUMNS: dict[str, pl.DataType] = {
    "request_id": pl.Utf8(), "timestamp": TIMESTAMP, "model_name": pl.Utf8(),
    "model_version": pl.Int64(),
}
#: What the model said: the label (or value) and, for a binary classifier, the positive
#: class's probability (null otherwise).
OUTPUT_COLUMNS = ("prediction", "probability")
#: Per-row accounting of the prediction log. A request of n rows shares its latency and
#: its model call's CPU time among them (``latency_ms``, ``cpu_ms`` are per row, so sums
#: over rows are totals); the whole request's latency and size stay on every row
#: (``request_latency_ms``, ``request_rows``). ``batch_id`` names the batch-scoring job
#: (null online); ``logged_at`` is when the row reached the table (set by the writer),
#: which is the time monitoring buckets by, so a row written late lands in a later
#: bucket instead of missing a bucket already closed.
ACCOUNTING_COLUMNS: dict[str, pl.DataType] = {
    "latency_ms": pl.Float64(), "request_latency_ms": pl.Float64(),
    "request_rows": pl.Int64(), "cpu_ms": pl.Float64(), "batch_id": pl.Utf8(),
    "logged_at": TIMESTAMP,
}
#: Columns whose range every log file's commit records (readers filter on them).
STATS_COLUMNS = ("timestamp", "logged_at", "model_version")


def predictions_path(settings: Settings, model_name: str) -> StoragePath:
    """``<data_root>/_predictions/<model_name>``."""
    return settings.resolved_data_root / PREDICTIONS_DIR / model_name


def feedback_path(settings: Settings, model_name: str) -> StoragePath:
    """``<data_root>/_feedback/<model_name>``."""
    return settings.resolved_data_root / FEEDBACK_DIR / model_name


def context_columns(contract: Contract, features: list[str] | tuple[str, ...]
                    ) -> tuple[str, ...]:
    """The contract's key, entity and event-time columns the model does not read.

    They are accepted with a prediction (optional: the model does not need them) and
    logged beside its features, because a prediction whose label comes back is a
    training row, and training splits by entity and event time: without them a labeled
    row could only be trained on under an iid split, which lockgate refuses for
    structured data.
    """
    names = {c.name for c in contract.columns}
    keys = [*contract.primary_key, contract.entity, contract.event_time]
    return tuple(dict.fromkeys(k for k in keys if k and k in names and k not in features))


def prediction_schema(contract: Contract, features: list[str],
                      problem_type: str) -> dict[str, pl.DataType]:
    """The prediction log's columns for one model; this module owns the format and
    monitoring imports it. Each feature is logged as the type it lands as in the
    versioned tables (:attr:`lockgate.data.ColumnSpec.polars_dtype`); besides the
    features it holds the contract's :func:`context_columns` (null when a request did
    not send them)."""
    schema: dict[str, pl.DataType] = dict(KEY_COLUMNS)
    for name in (*features, *context_columns(contract, features)):
        schema[name] = contract.column(name).polars_dtype
    schema["prediction"] = pl.Float64() if problem_type == "regression" else pl.Utf8()
    schema["probability"] = pl.Float64()
    schema.update(ACCOUNTING_COLUMNS)
    return schema


def feedback_schema(problem_type: str) -> dict[str, pl.DataType]:
    """The feedback log's columns: request id, time, and the label as the target."""
    label = pl.Float64() if problem_type == "regression" else pl.Utf8()
    return {"request_id": pl.Utf8(), "timestamp": TIMESTAMP, "label": label}


class DeltaAppender:
    """Buffers rows and appends them to one Delta table from a background thread.

    Rows carry ``timestamp`` as epoch seconds (cheap on the request path); it is
    converted to a UTC timestamp when the batch is written.
    """

    def __init__(self, path: StoragePath, schema: Mapping[str, pl.DataType], *,
                 flush_seconds: float = 1.0, max_rows: int = 5000) -> None:
        self.path = path
        self.schema = dict(schema)
        self.flush_seconds = flush_seconds
        self.max_rows = max_rows
        self.rows_written = 0
        self._table = LogTable(path)
        self.write_errors = 0
        self._buffer: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"delta-log:{path.name}",
                                        daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Rows buffered and not yet written."""
        return len(self._buffer)

    def append(self, rows: list[dict[str, Any]]) -> None:
        """Queue rows for the next write; never touches the disk."""
        with self._lock:
            self._buffer.extend(rows)
            size = len(self._buffer)
        if size >= self.max_rows:
            self._wake.set()

    def flush(self) -> None:
        """Write what is buffered now (on the caller's thread)."""
        with self._lock:
            rows, self._buffer = self._buffer, []
        if rows:
            try:
                self._write(rows)
            except Exception:
                with self._lock:  # keep them for the next attempt, in order
                    self._buffer[:0] = rows
                raise

    def close(self) -> None:
        """Stop the thread and write everything; spill to JSON lines if Delta refuses."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=60)
        for _attempt in range(3):
            try:
                self.flush()
                return
            except Exception as exc:
                log.error("prediction log %s: final write failed: %s", self.path, exc)
                time.sleep(0.2)
        self._spill()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            try:
                self.flush()
            except Exception as exc:  # keep serving; rows stay buffered for the retry
                self.write_errors += 1
                log.error("prediction log %s: write failed, will retry: %s", self.path, exc)

    def _write(self, rows: list[dict[str, Any]]) -> None:
        stamped = "logged_at" in self.schema
        schema = {**self.schema, "timestamp": pl.Float64()}
        schema.pop("logged_at", None)
        frame = pl.DataFrame(rows, schema=schema)
        frame = frame.with_columns(
            (pl.col("timestamp") * 1_000_000).cast(pl.Int64).cast(TIMESTAMP))
        self._table.append(frame, stamp=stamped)
        self.rows_written += len(rows)

    def _spill(self) -> None:
        with self._lock:
            rows, self._buffer = self._buffer, []
        if not rows:
            return
        spill = _spill_folder(self.path) / f"{self.path.name}.spill-{int(time.time())}.jsonl"
        with spill.open("a", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, default=str) + "\n")
        log.error("prediction log %s: %d rows spilled to %s", self.path, len(rows), spill)


class LogTable:
    """A prediction (or feedback) log's Delta table, kept open between appends; every
    writer of the logs (the server's appender, batch scoring) goes through it.

    Each append is one Parquet file and one commit listing it (with the min and max of
    the time columns, so the monitor's reads of a span skip the other files); a
    column the table lacks is merged into its schema by that commit.
    """

    def __init__(self, path: StoragePath) -> None:
        self.path = path
        self._table: DeltaTable | None = None
        self._lock = threading.Lock()

    def append(self, frame: pl.DataFrame, *, stamp: bool = True) -> None:
        """Commit ``frame``. ``stamp`` sets ``logged_at`` to now, just before the
        commit: monitoring buckets rows by it and closes a bucket ``settle`` seconds
        after it ends, so a row must become visible moments after its stamp (one commit
        of one chunk), never minutes later."""
        if stamp:
            frame = frame.with_columns(pl.lit(_now_utc(), TIMESTAMP).alias("logged_at"))
        with self._lock:
            add = stage_file(self.path, frame,
                             stats=[c for c in STATS_COLUMNS if c in frame.columns])
            table = self._table or open_table(self.path)
            self._table = commit_files(self.path, [add], frame.to_arrow().schema,
                                       table=table)


def _spill_folder(path: StoragePath) -> Path:
    """Where rows go that the log could not take: beside it locally; a local temp folder
    named after the bucket and prefix when the log is on object storage (which may be
    what failed)."""
    if isinstance(path, Path):
        return path.parent
    import tempfile

    folder = Path(tempfile.gettempdir()) / "lockgate-spill" / path.bucket / path.parent.prefix
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _now_utc() -> Any:
    import datetime as dt

    return dt.datetime.now(dt.UTC)


def read_predictions(settings: Settings, model_name: str) -> pl.DataFrame:
    """The prediction log of a model.

    Raises:
        NotFoundError: nothing was logged for this model yet.
    """
    return _read(predictions_path(settings, model_name), f"predictions of `{model_name}`")


def read_feedback(settings: Settings, model_name: str) -> pl.DataFrame:
    """The feedback log of a model."""
    return _read(feedback_path(settings, model_name), f"feedback for `{model_name}`")


def join_feedback(settings: Settings, model_name: str) -> pl.DataFrame:
    """Predictions with their ground truth: an inner join on ``request_id``.

    When a request got feedback twice, the latest label wins. The feedback time is
    kept as ``feedback_timestamp``.
    """
    predictions = read_predictions(settings, model_name)
    feedback = (read_feedback(settings, model_name).sort("timestamp")
                .unique("request_id", keep="last")
                .rename({"timestamp": "feedback_timestamp"}))
    return predictions.join(feedback, on="request_id", how="inner")


def _read(path: StoragePath, what: str) -> pl.DataFrame:
    if not (path / "_delta_log").is_dir():
        raise NotFoundError(f"No {what} yet: {path} is not a Delta table. Serve the model "
                            "and send requests first.")
    return pl.read_delta(str(path), storage_options=storage_options(path))
