"""Live performance: predictions of a window joined with the ground truth that arrived.

Labels come late. Only predictions whose label has arrived count; the coverage (the
share of predictions with a label) and the label delay (label time minus prediction
time) are reported with every figure so a reader knows how much of the window it
speaks for. The join reads only the narrow columns it needs from the prediction log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from lockgate.location import StoragePath
from lockgate.modeling.evaluation import LOWER_IS_BETTER, Predictions, point_metrics
from lockgate.monitoring.window import bucket_column, in_span, scan_log

#: Metrics monitoring reports live (computed by lockgate.modeling's evaluation, so they
#: compare like for like with the evaluation record), in the order :func:`degradation`
#: prefers them, and whether greater is better.
LIVE_METRICS = {m: m not in LOWER_IS_BETTER
                for m in ("accuracy", "roc_auc", "log_loss", "brier", "rmse", "mae")}


@dataclass(frozen=True, slots=True)
class LivePerformance:
    """Performance of a window on the labels that have arrived."""

    problem_type: str
    n_predictions: int
    n_labeled: int
    metrics: dict[str, float] = field(default_factory=dict)
    delay_p50_s: float | None = None
    delay_p90_s: float | None = None

    @property
    def coverage(self) -> float:
        """Share of the window's predictions with a label."""
        return self.n_labeled / self.n_predictions if self.n_predictions else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"problem_type": self.problem_type, "n_predictions": self.n_predictions,
                "n_labeled": self.n_labeled, "coverage": self.coverage,
                "metrics": self.metrics, "delay_p50_s": self.delay_p50_s,
                "delay_p90_s": self.delay_p90_s}


def labeled_predictions(log: Path, feedback: Path, start: float, end: float,
                        extra_columns: Sequence[str] = ()) -> tuple[pl.DataFrame, int]:
    """:func:`join_labels` plus the number of predictions in ``[start, end)``.

    For callers without a window profile; the monitor takes the count from the bucket
    profiles and calls :func:`join_labels` alone, saving a scan of the log.
    """
    in_window = in_span(bucket_column(log), start, end)
    count = scan_log(log).filter(in_window).select(pl.len()).collect().item()
    return join_labels(log, feedback, start, end, extra_columns), count


def join_labels(log: StoragePath, feedback: StoragePath, start: float, end: float,
                extra_columns: Sequence[str] = ()) -> pl.DataFrame:
    """Predictions in ``[start, end)`` joined with their labels (latest label per request).

    Labels are read first (a label comes after its prediction, so only labels from
    ``start`` on); predictions are then read only for labeled request ids, and only the
    columns the join needs.

    Returns:
        ``request_id, timestamp, prediction, probability, label, label_timestamp`` plus
        ``extra_columns``, one row per labeled prediction.
    """
    in_window = in_span(bucket_column(log), start, end)
    columns = ["request_id", "timestamp", "prediction", "probability", *extra_columns]
    labels = _labels(feedback, start)
    if labels.height == 0:
        empty = scan_log(log).select(columns).head(0).collect()
        return empty.with_columns(pl.lit(None).alias("label"),
                                  pl.lit(None).alias("label_timestamp"))
    predictions = (scan_log(log).filter(in_window & pl.col("request_id").is_in(
        labels["request_id"].implode())).select(columns).collect())
    return predictions.join(labels, on="request_id", how="inner")


def _labels(feedback: StoragePath, start: float) -> pl.DataFrame:
    if not (feedback / "_delta_log").is_dir():
        return pl.DataFrame()
    return (scan_log(feedback)
            .filter(pl.col("timestamp") >= _utc(start))
            .select("request_id", pl.col("label"), pl.col("timestamp").alias("label_timestamp"))
            .sort("label_timestamp")
            .unique("request_id", keep="last")
            .collect())


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC)


def live_performance(joined: pl.DataFrame, n_predictions: int, problem_type: str, *,
                     positive_label: str | None = None) -> LivePerformance:
    """Metrics on the labeled rows, and the label delay.

    Args:
        joined: output of :func:`join_labels`.
        n_predictions: predictions in the window (labeled or not).
        problem_type: ``binary``, ``multiclass`` or ``regression``.
        positive_label: the class whose probability the log holds (binary only).
    """
    if joined.height == 0:
        return LivePerformance(problem_type, n_predictions, 0)
    delay = (joined["label_timestamp"] - joined["timestamp"]).dt.total_microseconds()
    delays = delay.cast(pl.Float64).to_numpy() / 1e6
    if problem_type == "regression":
        metrics = _regression(joined)
    else:
        metrics = _classification(joined, problem_type, positive_label)
    return LivePerformance(problem_type, n_predictions, joined.height, metrics,
                           float(np.percentile(delays, 50)), float(np.percentile(delays, 90)))


def label_strings(series: pl.Series) -> pl.Series:
    """Labels as the server writes them (Python's ``str`` of the class): ``1.0`` and
    ``1`` become ``"1"``; ``true`` / ``True`` / a boolean become ``"True"``."""
    if series.dtype == pl.Boolean:
        return pl.select(pl.when(series).then(pl.lit("True")).otherwise(pl.lit("False"))
                         ).to_series()
    if series.dtype.is_float():
        as_int = series.cast(pl.Int64, strict=False)
        whole = (series == as_int.cast(pl.Float64))
        return pl.select(pl.when(whole).then(as_int.cast(pl.String))
                         .otherwise(series.cast(pl.String))).to_series()
    if series.dtype.is_integer():
        return series.cast(pl.String)
    strings = series.cast(pl.String)
    lowered = strings.str.to_lowercase()
    if lowered.drop_nulls().is_in(["true", "false"]).all() and lowered.null_count() < len(
            lowered):
        return pl.select(pl.when(lowered == "true").then(pl.lit("True"))
                         .when(lowered == "false").then(pl.lit("False"))).to_series()
    numeric = strings.cast(pl.Float64, strict=False)
    if numeric.null_count() == strings.null_count():  # "1.0" written by a float encoder
        return label_strings(numeric)
    return strings


def _classification(joined: pl.DataFrame, problem_type: str, positive: str | None
                    ) -> dict[str, float]:
    truth = label_strings(joined["label"]).to_numpy()
    predicted = label_strings(joined["prediction"]).to_numpy()
    accuracy = float(np.mean(truth == predicted))  # exact labels, a third class counts wrong
    if (problem_type != "binary" or positive is None
            or joined["probability"].null_count() == joined.height):
        return {"accuracy": accuracy}
    p = joined["probability"].cast(pl.Float64).fill_null(0.5).to_numpy()
    pred = Predictions("binary", (truth == positive).astype(np.int64),
                       (predicted == positive).astype(np.int64), np.column_stack([1 - p, p]))
    return {**_live(point_metrics(pred)), "accuracy": accuracy}


def _regression(joined: pl.DataFrame) -> dict[str, float]:
    truth = joined["label"].cast(pl.Float64, strict=False).to_numpy()
    predicted = joined["prediction"].cast(pl.Float64, strict=False).to_numpy()
    keep = ~(np.isnan(truth) | np.isnan(predicted))
    if not keep.any():
        return {}
    return _live(point_metrics(Predictions("regression", truth[keep], predicted[keep])))


def _live(metrics: Mapping[str, float]) -> dict[str, float]:
    """The live metrics among ``metrics``, without undefined ones (AUC on one class)."""
    return {k: v for k, v in metrics.items() if k in LIVE_METRICS and np.isfinite(v)}


def degradation(live: Mapping[str, float], evaluation: Mapping[str, Any]
                ) -> tuple[str | None, float | None]:
    """How much worse live performance is than the evaluation's, on one metric.

    Uses the evaluation's primary metric when it can be computed live, else the first
    live metric the evaluation also reports. Positive means worse, in metric units.

    Returns:
        ``(metric, degradation)`` or ``(None, None)`` when nothing is comparable.
    """
    reference = evaluation.get("metrics", {}) if evaluation else {}
    primary = evaluation.get("primary_metric") if evaluation else None
    order = [primary] if primary in LIVE_METRICS else []
    order += [m for m in LIVE_METRICS if m not in order]
    for metric in order:
        if metric in live and metric in reference and reference[metric] is not None:
            greater = LIVE_METRICS[metric]
            diff = float(reference[metric]) - live[metric]
            return metric, diff if greater else -diff
    return None, None
