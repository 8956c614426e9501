"""The quarantine: rows the door refused, per table, with batch id, reasons and the
source values; summaries by reason; release after a contract fix."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from deltalake import DeltaTable

from lockgate.data import table as delta
from lockgate.data.validation import RAW_JSON, REASONS, ROW

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


def read_quarantine(path: Path) -> pl.DataFrame:
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


def delete(path: Path, qids: list[str]) -> None:
    """Remove released rows from the quarantine (one commit)."""
    if not qids:
        return
    quoted = ", ".join("'" + q.replace("'", "''") + "'" for q in qids)
    DeltaTable(str(path)).delete(f"qid in ({quoted})")
