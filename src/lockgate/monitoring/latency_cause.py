"""Root cause of a latency or cost alert: what the slow traffic was made of.

A latency alert is not explained by drift. The evidence here is the shape of the
traffic and the model's own work in the window: request sizes (a p99 of whole requests
is mostly a story of big batches), per-prediction latency and CPU time per model
version (a new version that is slower), the share of wall time the model's CPU
accounts for (the rest is queueing and overhead), and the slowest requests.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, cast

import polars as pl

from lockgate.data.table import scan as scan_table
from lockgate.location import StoragePath
from lockgate.monitoring.window import read_span

ALERT_KINDS = ("latency.", "cost.", "requests.")


def is_latency_measure(measure: str) -> bool:
    """Whether an alert on ``measure`` is explained by traffic and compute, not data."""
    return measure.startswith(ALERT_KINDS)


@dataclass(frozen=True, slots=True)
class VersionLatency:
    """One model version's share of the window and its cost."""

    version: int
    predictions: int
    mean_ms_per_prediction: float
    cpu_ms_per_prediction: float | None


@dataclass(frozen=True, slots=True)
class LatencyCause:
    """The evidence for a latency or cost alert, and its summary."""

    kind: str = "latency"
    requests: float = 0.0
    rows_per_request: dict[str, float] = field(default_factory=dict)
    request_p99_ms: float | None = None
    prediction_p99_ms: float | None = None
    cpu_share_of_wall: float | None = None
    versions: list[VersionLatency] = field(default_factory=list)
    slowest: list[dict[str, Any]] = field(default_factory=list)
    summary: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, stored with the incident and sent with the alert."""
        return asdict(self)


def latency_cause(log: StoragePath, start: float, end: float) -> LatencyCause:
    """Explain the latency and cost of the traffic that arrived in ``[start, end)``."""
    names = set(scan_table(log).collect_schema().names())
    wanted = [c for c in ("request_id", "model_version", "latency_ms", "request_latency_ms",
                          "request_rows", "cpu_ms") if c in names]
    rows = read_span(log, start, end, wanted)
    if rows.height == 0:
        return LatencyCause(summary="no predictions in the window")
    rows = _with_request_columns(rows)
    requests = rows.select((1.0 / pl.col("request_rows")).sum()).item()
    sizes = rows["request_rows"].cast(pl.Float64)
    per_request = {"median": float(cast(float, sizes.median() or 0)),
                   "max": float(cast(float, sizes.max() or 0))}
    cpu = rows["cpu_ms"].drop_nulls() if "cpu_ms" in rows.columns else pl.Series([])
    wall = float(rows["latency_ms"].sum())
    share = float(cpu.sum()) / wall if cpu.len() and wall > 0 else None
    cause = LatencyCause(
        requests=float(requests), rows_per_request=per_request,
        request_p99_ms=_quantile(rows, "request_latency_ms", 0.99, weighted=True),
        prediction_p99_ms=_quantile(rows, "latency_ms", 0.99),
        cpu_share_of_wall=share, versions=_versions(rows), slowest=_slowest(rows))
    return LatencyCause(**{**_fields(cause), "summary": _summary(cause)})


def _with_request_columns(rows: pl.DataFrame) -> pl.DataFrame:
    """Logs written before request accounting: each row was its own request's latency."""
    if "request_rows" not in rows.columns:
        rows = rows.with_columns(pl.lit(1, pl.Int64).alias("request_rows"))
    if "request_latency_ms" not in rows.columns:
        rows = rows.with_columns(pl.col("latency_ms").alias("request_latency_ms"))
    if "cpu_ms" not in rows.columns:
        rows = rows.with_columns(pl.lit(None, pl.Float64).alias("cpu_ms"))
    return rows.with_columns(pl.col("request_rows").fill_null(1).clip(1))


def _quantile(rows: pl.DataFrame, column: str, q: float, *, weighted: bool = False
              ) -> float | None:
    if weighted:  # one value per request, not per row
        rows = _one_row_per_request(rows)
    values = rows[column].drop_nulls()
    return float(values.quantile(q, "higher")) if values.len() else None  # type: ignore[arg-type]


def _one_row_per_request(rows: pl.DataFrame) -> pl.DataFrame:
    # the rows of one request are "<base>-<i>" (a single record is "<base>")
    if "request_id" not in rows.columns:
        return rows
    return rows.with_columns(pl.col("request_id").str.replace(r"-\d+$", "").alias("__req")
                             ).unique("__req", keep="first")


def _versions(rows: pl.DataFrame) -> list[VersionLatency]:
    grouped = rows.group_by("model_version").agg(
        pl.len().alias("n"), pl.col("latency_ms").mean().alias("wall"),
        pl.col("cpu_ms").mean().alias("cpu")).sort("model_version")
    return [VersionLatency(int(v), int(n), float(w or 0.0), None if c is None else float(c))
            for v, n, w, c in grouped.iter_rows()]


def _slowest(rows: pl.DataFrame, top: int = 3) -> list[dict[str, Any]]:
    worst = (_one_row_per_request(rows)
             .sort("request_latency_ms", descending=True, nulls_last=True).head(top))
    return [{"request_latency_ms": float(r["request_latency_ms"] or 0.0),
             "rows": int(r["request_rows"]), "model_version": int(r["model_version"])}
            for r in worst.iter_rows(named=True)]


def _summary(cause: LatencyCause) -> str:
    parts = [f"{cause.requests:.0f} requests of median {cause.rows_per_request['median']:.0f} "
             f"rows (max {cause.rows_per_request['max']:.0f})"]
    if cause.request_p99_ms is not None and cause.prediction_p99_ms is not None:
        parts.append(f"p99 {cause.request_p99_ms:.1f} ms per request, "
                     f"{cause.prediction_p99_ms:.2f} ms per prediction")
    if len(cause.versions) > 1:
        parts.append("by version: " + ", ".join(
            f"v{v.version} {v.mean_ms_per_prediction:.2f} ms/prediction ({v.predictions})"
            for v in cause.versions))
    elif cause.versions:
        parts.append(f"all from v{cause.versions[0].version}")
    if cause.cpu_share_of_wall is not None:
        parts.append(f"model CPU is {cause.cpu_share_of_wall:.0%} of the wall time"
                     + (" (the rest is queueing and overhead)"
                        if cause.cpu_share_of_wall < 0.5 else ""))
    if cause.slowest:
        worst = cause.slowest[0]
        parts.append(f"slowest request {worst['request_latency_ms']:.0f} ms for "
                     f"{worst['rows']} rows on v{worst['model_version']}")
    return "; ".join(parts) + "."


def _fields(cause: LatencyCause) -> dict[str, Any]:
    return {name: getattr(cause, name) for name in LatencyCause.__dataclass_fields__}
