"""Windows over a model's prediction log, built from buckets that are profiled once.

A window ``[start, end)`` is a run of fixed-size buckets aligned on the epoch. Each
closed bucket is read from the prediction-log Delta table once, profiled (input
features and predictions through ``lockgate.quality.profile``, latency histogram,
contract violations, model versions seen) and stored in ``monitor_buckets``; any later
window that covers it merges the stored profile instead of reading the rows again. A
bucket still receiving predictions (its end is later than ``now - settle``) is read and
profiled on the fly and not stored, so it is profiled afresh until it closes.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import polars as pl
import sqlalchemy as sa
from deltalake import DeltaTable

from lockgate.config import Settings
from lockgate.data.contract import Contract
from lockgate.data.table import scan as scan_table
from lockgate.errors import LockgateError, NotFoundError
from lockgate.location import StoragePath, storage_options
from lockgate.monitoring.contract_check import (
    count_violations,
    merge_violations,
    read_violations,
)
from lockgate.quality import Profile, profile
from lockgate.serving.prediction_log import OUTPUT_COLUMNS, predictions_path
from lockgate.store import Store
from lockgate.store.tables_monitoring import monitor_buckets as t_buckets

#: Log-spaced latency bin edges from 0.01 ms to 100 s, 20 bins per decade: fixed, so
#: histograms of any two buckets add up exactly.
LATENCY_EDGES = np.logspace(-2, 5, 141)
#: The log's format is the serving stage's (lockgate.serving.prediction_log owns its
#: paths and columns); monitoring reads it.
PREDICTION_COLUMNS = OUTPUT_COLUMNS


class PredictionLogError(LockgateError, ValueError):
    """The prediction log or feedback table is missing or does not have the agreed schema."""


@dataclass(frozen=True, slots=True)
class BucketProfile:
    """Everything monitoring keeps about a set of logged predictions; mergeable.

    Attributes:
        n: predictions.
        first_ts / last_ts: epoch seconds of the first and last prediction (None if n=0).
        versions: predictions per model version.
        latency_counts: counts per :data:`LATENCY_EDGES` bin of the per-prediction latency
            (a request's latency shared by its rows).
        latency_sum_ms / latency_max_ms: for the mean and the worst case.
        request_counts: the same histogram of whole requests' latency, each row weighing
            ``1 / request_rows`` so a request counts once (sums to ``requests``).
        requests: requests the predictions came in (rows / request size, summed).
        request_rows_max: the largest request seen.
        cpu_sum_ms / cpu_rows: CPU time of the model calls and the rows that carry it
            (the cost figure; 0 for logs written before CPU was logged).
        violations: contract-check violations (``__any__`` = rows breaking one or more).
        features: the quality profile of the input features, None if n=0.
        predictions: the quality profile of ``prediction`` / ``probability``.
    """

    n: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    versions: dict[str, int] = field(default_factory=dict)
    latency_counts: tuple[int, ...] = ()
    latency_sum_ms: float = 0.0
    latency_max_ms: float = 0.0
    violations: dict[str, int] = field(default_factory=dict)
    features: Profile | None = None
    predictions: Profile | None = None
    request_counts: tuple[float, ...] = ()
    requests: float = 0.0
    request_rows_max: int = 0
    cpu_sum_ms: float = 0.0
    cpu_rows: int = 0

    def merge(self, other: BucketProfile) -> BucketProfile:
        """The profile of the union of both sets of predictions."""
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        counts = tuple(int(a) + int(b) for a, b in zip(
            self.latency_counts or (0,) * (len(LATENCY_EDGES) - 1),
            other.latency_counts or (0,) * (len(LATENCY_EDGES) - 1), strict=True))
        per_request = tuple(float(a) + float(b) for a, b in zip(
            self.request_counts or (0.0,) * (len(LATENCY_EDGES) - 1),
            other.request_counts or (0.0,) * (len(LATENCY_EDGES) - 1), strict=True))
        return BucketProfile(
            n=self.n + other.n,
            first_ts=_min(self.first_ts, other.first_ts),
            last_ts=_max(self.last_ts, other.last_ts),
            versions=merge_violations(self.versions, other.versions),
            latency_counts=counts,
            latency_sum_ms=self.latency_sum_ms + other.latency_sum_ms,
            latency_max_ms=max(self.latency_max_ms, other.latency_max_ms),
            violations=merge_violations(self.violations, other.violations),
            features=_merge_profiles(self.features, other.features),
            predictions=_merge_profiles(self.predictions, other.predictions),
            request_counts=per_request if self.requests + other.requests else (),
            requests=self.requests + other.requests,
            request_rows_max=max(self.request_rows_max, other.request_rows_max),
            cpu_sum_ms=self.cpu_sum_ms + other.cpu_sum_ms,
            cpu_rows=self.cpu_rows + other.cpu_rows,
        )

    def latency_quantile(self, q: float) -> float | None:
        """Per-prediction latency (ms) at quantile ``q`` from the histogram (upper bin
        edge, so never optimistic by more than one bin, about 12%)."""
        return _quantile(self.latency_counts, q, self.latency_max_ms)

    def request_latency_quantile(self, q: float) -> float | None:
        """Whole-request latency (ms) at quantile ``q``; None for logs without it."""
        return _quantile(self.request_counts, q, float(LATENCY_EDGES[-1]))

    @property
    def cost_ms_per_1k(self) -> float | None:
        """CPU milliseconds per 1,000 predictions (None when no row carries CPU time)."""
        return self.cpu_sum_ms / self.cpu_rows * 1000 if self.cpu_rows else None

    @property
    def main_version(self) -> int | None:
        """The model version that served most predictions."""
        if not self.versions:
            return None
        return int(max(self.versions.items(), key=lambda kv: kv[1])[0])

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, as stored per bucket."""
        return {
            "n": self.n, "first_ts": self.first_ts, "last_ts": self.last_ts,
            "versions": self.versions, "latency_counts": list(self.latency_counts),
            "latency_sum_ms": self.latency_sum_ms, "latency_max_ms": self.latency_max_ms,
            "violations": self.violations,
            "features": self.features.to_dict() if self.features else None,
            "predictions": self.predictions.to_dict() if self.predictions else None,
            "request_counts": list(self.request_counts), "requests": self.requests,
            "request_rows_max": self.request_rows_max, "cpu_sum_ms": self.cpu_sum_ms,
            "cpu_rows": self.cpu_rows,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BucketProfile:
        """Inverse of :meth:`to_dict`."""
        return cls(
            n=int(data["n"]), first_ts=data.get("first_ts"), last_ts=data.get("last_ts"),
            versions={str(k): int(v) for k, v in data.get("versions", {}).items()},
            latency_counts=tuple(int(c) for c in data.get("latency_counts", [])),
            latency_sum_ms=float(data.get("latency_sum_ms", 0.0)),
            latency_max_ms=float(data.get("latency_max_ms", 0.0)),
            violations=read_violations(data.get("violations", {})),
            features=Profile.from_dict(data["features"]) if data.get("features") else None,
            predictions=(Profile.from_dict(data["predictions"]) if data.get("predictions")
                         else None),
            request_counts=tuple(float(c) for c in data.get("request_counts", [])),
            requests=float(data.get("requests", 0.0)),
            request_rows_max=int(data.get("request_rows_max", 0)),
            cpu_sum_ms=float(data.get("cpu_sum_ms", 0.0)),
            cpu_rows=int(data.get("cpu_rows", 0)),
        )


def profile_predictions(frame: pl.DataFrame, features: Sequence[str],
                        contract: Contract) -> BucketProfile:
    """Profile logged predictions: inputs, outputs, latency, contract checks, versions.

    Raises:
        PredictionLogError: a feature column named by the contract is not in the log.
    """
    if frame.height == 0:
        return BucketProfile()
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise PredictionLogError(
            f"The prediction log has no column(s) {', '.join(missing)} that the model's "
            "contract lists as features. The log must hold one column per contract feature; "
            "was it written by another model?")
    latency = frame["latency_ms"].drop_nulls().cast(pl.Float64).to_numpy()
    counts, _ = np.histogram(np.clip(latency, LATENCY_EDGES[0], LATENCY_EDGES[-1]),
                             bins=LATENCY_EDGES)
    stamps = frame.select(pl.col("timestamp").dt.epoch("us").min().alias("lo"),
                          pl.col("timestamp").dt.epoch("us").max().alias("hi")).row(0)
    versions = frame.group_by("model_version").len()
    outputs = [c for c in PREDICTION_COLUMNS
               if c in frame.columns and frame[c].null_count() < frame.height]
    requests = _request_figures(frame)
    return BucketProfile(
        n=frame.height,
        first_ts=stamps[0] / 1e6, last_ts=stamps[1] / 1e6,
        versions={str(v): int(n) for v, n in versions.iter_rows()},
        latency_counts=tuple(int(c) for c in counts),
        latency_sum_ms=float(latency.sum()) if latency.size else 0.0,
        latency_max_ms=float(latency.max()) if latency.size else 0.0,
        violations=count_violations(frame.select(list(features)), contract),
        # profiled with the contract's kinds (a category stored as integers stays
        # categorical), as the reference profile was
        features=profile(frame.select(list(features)), contract=contract),
        predictions=profile(frame.select(outputs)) if outputs else None,
        **requests,
    )


def _request_figures(frame: pl.DataFrame) -> dict[str, Any]:
    """Request-level latency, request sizes and CPU time, from the accounting columns
    (absent in logs written before them: then nothing is claimed)."""
    out: dict[str, Any] = {}
    if {"request_latency_ms", "request_rows"} <= set(frame.columns):
        known = frame.filter(pl.col("request_latency_ms").is_not_null()
                             & (pl.col("request_rows") > 0))
        if known.height:
            latency = known["request_latency_ms"].cast(pl.Float64).to_numpy()
            weights = 1.0 / known["request_rows"].cast(pl.Float64).to_numpy()
            counts, _ = np.histogram(np.clip(latency, LATENCY_EDGES[0], LATENCY_EDGES[-1]),
                                     bins=LATENCY_EDGES, weights=weights)
            out.update(request_counts=tuple(float(c) for c in counts),
                       requests=float(weights.sum()),
                       request_rows_max=int(cast(float, known["request_rows"].max() or 0)))
    if "cpu_ms" in frame.columns:
        cpu = frame["cpu_ms"].drop_nulls().cast(pl.Float64)
        out.update(cpu_sum_ms=float(cpu.sum()), cpu_rows=cpu.len())
    return out


def _quantile(counts: Sequence[float], q: float, ceiling: float) -> float | None:
    total = sum(counts)
    if not total:
        return None
    target = q * total
    running = 0.0
    for index, count in enumerate(counts):
        running += count
        if running >= target - 1e-9 and count:
            return float(min(LATENCY_EDGES[index + 1], ceiling))
    return ceiling


@dataclass(frozen=True, slots=True)
class WindowSpan:
    """A window and the buckets it is made of."""

    start: float
    end: float
    bucket_seconds: float

    @property
    def buckets(self) -> list[tuple[float, float]]:
        """The ``(start, end)`` of every bucket, in time order."""
        count = round((self.end - self.start) / self.bucket_seconds)
        return [(self.start + i * self.bucket_seconds,
                 self.start + (i + 1) * self.bucket_seconds) for i in range(count)]


def window_span(end: float, window_seconds: float, bucket_seconds: float) -> WindowSpan:
    """The window of ``window_seconds`` ending at the bucket boundary at or after ``end``."""
    aligned = math.ceil(end / bucket_seconds) * bucket_seconds
    count = max(1, math.ceil(window_seconds / bucket_seconds))
    return WindowSpan(aligned - count * bucket_seconds, aligned, bucket_seconds)


def scan_log(path: StoragePath, model_name: str = "") -> pl.LazyFrame:
    """A lazy scan of a prediction log or feedback Delta table.

    Raises:
        PredictionLogError: no Delta table there yet.
    """
    if not (path / "_delta_log").is_dir():
        raise PredictionLogError(
            f"No Delta table at {path}. Serve the model and send predictions first "
            f"(`lockgate serve {model_name or 'NAME'}`), or check LOCKGATE_DATA_ROOT.")
    return scan_table(path)


def bucket_column(path: StoragePath) -> str:
    """The time a log's rows are bucketed by: ``logged_at`` (when the row reached the
    table) when the log has it, else ``timestamp`` (logs written before it existed).

    Why arrival time: a bucket is profiled once, when it closes; a row whose write was
    delayed past that moment would otherwise never be counted anywhere.
    """
    names = scan_log(path).collect_schema().names()
    return "logged_at" if "logged_at" in names else "timestamp"


def in_span(column: str, start: float, end: float) -> pl.Expr:
    """``start <= column < end`` for an epoch-seconds span (pushed down to Delta)."""
    return (pl.col(column) >= _ts(start)) & (pl.col(column) < _ts(end))


def read_span(path: StoragePath, start: float, end: float, columns: Sequence[str] | None = None
              ) -> pl.DataFrame:
    """Rows of a log that arrived in ``[start, end)`` (see :func:`bucket_column`)."""
    column = bucket_column(path)
    frame = scan_log(path).filter(in_span(column, start, end))
    if columns is not None:
        frame = frame.select(list(columns))
    return frame.collect()


def window_profile(store: Store, settings: Settings, model_name: str, span: WindowSpan, *,
                   features: Sequence[str], contract: Contract,
                   now: float | None = None, settle_seconds: float = 30.0
                   ) -> tuple[BucketProfile, dict[str, int]]:
    """Merge the window's bucket profiles, profiling (and storing) only missing buckets.

    Returns:
        The merged profile and ``{"stored": n, "profiled": n, "live": n}`` bucket counts
        (``stored``: merged from the store; ``profiled``: read now and stored; ``live``:
        read now, not stored because still open).
    """
    now = time.time() if now is None else now
    stored = _stored_buckets(store, model_name, span)
    missing = [b for b in span.buckets if b not in stored]
    counts = {"stored": len(span.buckets) - len(missing), "profiled": 0, "live": 0}
    fresh: dict[tuple[float, float], BucketProfile] = {}
    if missing:
        path = predictions_path(settings, model_name)
        log_version = DeltaTable(str(path), storage_options=storage_options(path)).version()
        rows = read_span(path, missing[0][0], missing[-1][1])
        fresh = _profile_missing(rows, missing, features, contract)
        closed = {b: p for b, p in fresh.items() if b[1] <= now - settle_seconds}
        _store_buckets(store, model_name, closed, log_version)
        counts["profiled"] = len(closed)
        counts["live"] = len(fresh) - len(closed)
    merged = BucketProfile()
    for bucket in span.buckets:
        merged = merged.merge(stored.get(bucket) or fresh.get(bucket) or BucketProfile())
    return merged, counts


def _profile_missing(rows: pl.DataFrame, missing: list[tuple[float, float]],
                     features: Sequence[str], contract: Contract
                     ) -> dict[tuple[float, float], BucketProfile]:
    wanted = set(missing)
    if rows.height == 0:
        return {b: BucketProfile() for b in missing}
    size = missing[0][1] - missing[0][0]
    origin = missing[0][0]
    column = "logged_at" if "logged_at" in rows.columns else "timestamp"
    keyed = rows.with_columns(
        ((pl.col(column).dt.epoch("us") / 1e6 - origin) // size).cast(pl.Int64)
        .alias("__bucket"))
    out = {b: BucketProfile() for b in missing}
    for (index,), part in keyed.group_by("__bucket", maintain_order=True):
        bucket = (origin + int(index) * size, origin + (int(index) + 1) * size)
        if bucket in wanted:
            out[bucket] = profile_predictions(part.drop("__bucket"), features, contract)
    return out


def _stored_buckets(store: Store, model_name: str, span: WindowSpan
                    ) -> dict[tuple[float, float], BucketProfile]:
    query = sa.select(t_buckets.c.bucket_start, t_buckets.c.bucket_end, t_buckets.c.profile
                      ).where(t_buckets.c.model_name == model_name,
                              t_buckets.c.bucket_start >= span.start,
                              t_buckets.c.bucket_end <= span.end)
    with store.read() as conn:
        rows = conn.execute(query).all()
    return {(s, e): BucketProfile.from_dict(json.loads(p)) for s, e, p in rows
            if (s, e) in set(span.buckets)}


def _store_buckets(store: Store, model_name: str,
                   profiles: Mapping[tuple[float, float], BucketProfile],
                   log_version: int) -> None:
    """Store closed buckets in one transaction; one a concurrent monitor stored first
    (identical content) is skipped, row by row."""
    if not profiles:
        return
    now = time.time()
    rows = [{"model_name": model_name, "bucket_start": b[0], "bucket_end": b[1],
             "n_predictions": p.n, "log_version": log_version,
             "profile": json.dumps(p.to_dict(), separators=(",", ":")), "created_at": now}
            for b, p in profiles.items()]
    try:
        store.execute_write(sa.insert(t_buckets), rows)
    except sa.exc.IntegrityError:
        for row in rows:
            with contextlib.suppress(sa.exc.IntegrityError):
                store.execute_write(sa.insert(t_buckets).values(**row))


def stored_bucket_count(store: Store, model_name: str) -> int:
    """How many closed buckets of this model are stored (for tests and the report)."""
    with store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(t_buckets).where(
            t_buckets.c.model_name == model_name)).scalar_one())


def _merge_profiles(a: Profile | None, b: Profile | None) -> Profile | None:
    if a is None:
        return b
    if b is None:
        return a
    return a.merge(b)


def _ts(epoch: float) -> Any:
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC)


def _min(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def require_log(settings: Settings, model_name: str) -> StoragePath:
    """The prediction log path, checked to exist.

    Raises:
        NotFoundError: nothing was logged for this model yet.
    """
    path = predictions_path(settings, model_name)
    if not (path / "_delta_log").is_dir():
        raise NotFoundError(
            f"No prediction log for model `{model_name}` at {path}. Serve it "
            f"(`lockgate serve {model_name}`) and send traffic before monitoring.")
    return path
