"""The quarantine: rows the door refused, per table, with batch id, reasons and the
source values; summaries by reason; release after a contract fix."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import polars as pl
from deltalake import DeltaTable

from lockgate.data import table as delta
from lockgate.data.validation import RAW_JSON, REASONS, ROW
from lockgate.location import StoragePath, storage_options

SCHEMA = {
    "qid": pl.String(), "batch_id": pl.String(), ROW: pl.Int64(),
    REASONS: pl.List(pl.String()), RAW_JSON: pl.String(), "source": pl.String(),
    "contract_version": pl.String(), "quarantined_at": pl.Datetime("us", "UTC"),
}


@dataclass(frozen=True, slots=True)
class ReleaseResult:
    """What a release did: rows re-validated, released (landed), still quarantined."""

    checked: int
    released: int
    remaining: int
    dataset_version: int | None
    reasons: dict[str, int]


def quarantine_frame(rows: pl.DataFrame, *, batch_id: str, source: str,
                     contract_version: str) -> pl.DataFrame:
    """Quarantine records for a batch's refused rows (``row``, ``reasons``, ``raw``)."""
    now = datetime.now(UTC)
    return rows.select(
        (pl.lit(batch_id + ":") + pl.col(ROW).cast(pl.String)).alias("qid"),
        pl.lit(batch_id).alias("batch_id"), pl.col(ROW).cast(pl.Int64),
        pl.col(REASONS).cast(pl.List(pl.String)), pl.col(RAW_JSON).cast(pl.String),
        pl.lit(source).alias("source"), pl.lit(contract_version).alias("contract_version"),
        pl.lit(now, pl.Datetime("us", "UTC")).alias("quarantined_at"),
    )


def read_quarantine(path: StoragePath) -> pl.DataFrame:
    """Every quarantined row of a table (empty frame when none)."""
    table = delta.open_table(path)
    if table is None:
        return pl.DataFrame(schema=SCHEMA)
    frame = pl.from_arrow(table.to_pyarrow_table())
    assert isinstance(frame, pl.DataFrame)
    return frame


def summary(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows per reason code, most frequent first, with one example of the raw values."""
    if frame.is_empty():
        return pl.DataFrame(schema={"reason": pl.String, "rows": pl.UInt32,
                                    "batches": pl.UInt32, "example": pl.String})
    return (frame.explode(REASONS).group_by(pl.col(REASONS).alias("reason"))
            .agg(pl.len().alias("rows"), pl.col("batch_id").n_unique().alias("batches"),
                 pl.col(RAW_JSON).first().alias("example"))
            .sort(["rows", "reason"], descending=[True, False]))


def records(frame: pl.DataFrame) -> list[dict[str, object]]:
    """The quarantined rows' source values, as records to re-validate."""
    return [json.loads(raw) for raw in frame[RAW_JSON].to_list()]


def delete(path: StoragePath, qids: list[str]) -> None:
    """Remove released rows from the quarantine (one commit)."""
    if not qids:
        return
    quoted = ", ".join("'" + q.replace("'", "''") + "'" for q in qids)
    DeltaTable(str(path), storage_options=storage_options(path)).delete(f"qid in ({quoted})")


ExportFormat = Literal["csv", "parquet"]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$"


def export_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """Quarantined rows laid out for the people who fix the source: one row per refused
    row, its reasons, where it came from (batch, record number, stream id) and then the
    source values as the source wrote them, one column each."""
    meta = frame.select(
        pl.col(REASONS).list.join("; ").alias("reasons"),
        pl.col("source"),
        (pl.col(ROW) + 1).alias("record"),
        pl.when(pl.col("source").str.starts_with("redis:"))
        .then(pl.col("qid").str.split(":").list.last()).alias("stream_id"),
        pl.col("batch_id"), pl.col("contract_version"), pl.col("quarantined_at"),
    )
    if frame.is_empty():
        return meta
    values = pl.DataFrame([_as_text_record(raw) for raw in frame[RAW_JSON].to_list()],
                          infer_schema_length=None)
    values = values.rename({c: f"value_{c}" for c in values.columns if c in meta.columns})
    return pl.concat([meta, values], how="horizontal")


def export(frame: pl.DataFrame, path: str | Path) -> Path:
    """Write quarantined rows to CSV or Parquet (by the file's suffix).

    In CSV, text that a spreadsheet would run as a formula (starting with ``=``, ``+``,
    ``-``, ``@``, tab or carriage return; plain numbers excepted) is prefixed with ``'``:
    quarantined values come from outside and are data, never formulas.

    Raises:
        LockgateError: the suffix is neither ``.csv`` nor ``.parquet``.
    """
    from lockgate.errors import LockgateError

    path = Path(path)
    kind = {".csv": "csv", ".parquet": "parquet"}.get(path.suffix.lower())
    if kind is None:
        raise LockgateError(f"Export to {path.name}: use a .csv or .parquet file name.")
    table = export_frame(frame)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "parquet":
        table.write_parquet(path)
    else:
        table.with_columns(pl.col("quarantined_at").dt.to_string("%Y-%m-%dT%H:%M:%S%.fZ")
                           ).select(neutralised(c) for c in table.columns).write_csv(path)
    return path


def neutralised(column: str) -> pl.Expr:
    """A text column with spreadsheet formulas made inert (see :func:`export`)."""
    col = pl.col(column).cast(pl.String)
    risky = col.str.starts_with(_FORMULA_START[0])
    for start in _FORMULA_START[1:]:
        risky = risky | col.str.starts_with(start)
    return pl.when(risky & ~col.str.contains(_PLAIN_NUMBER)).then("'" + col).otherwise(col) \
        .alias(column)


def _as_text_record(raw: str) -> dict[str, str | None]:
    value = json.loads(raw)
    return {str(k): None if v is None else v if isinstance(v, str) else json.dumps(v)
            for k, v in value.items()}
