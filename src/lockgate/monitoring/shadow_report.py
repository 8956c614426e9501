"""The live difference between the served version and its shadow, on the same requests.

Read from the shadow log (``_shadow/NAME``), which holds both answers per request:
agreement of the labels, the mean absolute difference of the probabilities, and, on the
requests whose labels arrived, both versions' accuracy with the paired difference and
its bootstrap interval (the same rows for both: the fair comparison a promotion needs).
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import polars as pl

from lockgate.config import Settings
from lockgate.location import StoragePath
from lockgate.monitoring.performance import label_strings
from lockgate.monitoring.window import read_span, scan_log
from lockgate.registry.shadow_period import ShadowEvidence

MIN_PAIRED = 30


def shadow_difference(shadow_log: StoragePath, feedback: StoragePath, start: float, end: float, *,
                      n_bootstrap: int = 1000, seed: int = 0) -> dict[str, Any] | None:
    """The shadow's difference from the primary in ``[start, end)``; None without a
    shadow log or shadow rows in the window."""
    if not (shadow_log / "_delta_log").is_dir():
        return None
    rows = read_span(shadow_log, start, end, ["request_id", "model_version", "prediction",
                                              "probability", "primary_version",
                                              "primary_prediction", "primary_probability"])
    if rows.height == 0:
        return None
    agree = float(cast(float, (rows["prediction"].cast(pl.String)
                               == rows["primary_prediction"].cast(pl.String)).mean() or 0.0))
    diff = (rows["probability"] - rows["primary_probability"]).abs().drop_nulls()
    out: dict[str, Any] = {
        "n": rows.height, "shadow_versions": sorted(set(rows["model_version"].to_list())),
        "primary_versions": sorted(set(rows["primary_version"].to_list())),
        "agreement": agree,
        "mean_abs_probability_diff": float(cast(float, diff.mean())) if diff.len() else None,
        "labeled": _paired(rows, feedback, n_bootstrap, seed)}
    return out


def _paired(rows: pl.DataFrame, feedback: StoragePath, n_bootstrap: int, seed: int
            ) -> dict[str, Any] | None:
    if not (feedback / "_delta_log").is_dir():
        return None
    labels = (scan_log(feedback).filter(pl.col("request_id").is_in(
        rows["request_id"].implode())).select("request_id", "label", "timestamp")
        .collect().sort("timestamp", maintain_order=True).unique("request_id", keep="last"))
    joined = rows.join(labels, on="request_id", how="inner")
    if joined.height == 0:
        return None
    truth = label_strings(joined["label"])
    shadow = (joined["prediction"].cast(pl.String) == truth).cast(pl.Float64).to_numpy()
    primary = (joined["primary_prediction"].cast(pl.String) == truth).cast(pl.Float64
                                                                           ).to_numpy()
    delta = shadow - primary
    out: dict[str, Any] = {"n": int(joined.height), "shadow_accuracy": float(shadow.mean()),
                           "primary_accuracy": float(primary.mean()),
                           "difference": float(delta.mean()), "interval": None}
    if joined.height >= MIN_PAIRED:
        rng = np.random.default_rng(seed)
        means = delta[rng.integers(0, delta.size, (n_bootstrap, delta.size))].mean(axis=1)
        out["interval"] = [float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))]
    return out


def shadow_evidence(settings: Settings, model_name: str, version: int, *,
                    n_bootstrap: int = 1000, seed: int = 0) -> ShadowEvidence | None:
    """What ``model_name@version`` did while it served in shadow, for the registry's
    shadow-period gate: its shadow predictions, their time span, agreement with the
    production answers and, on labeled requests, the paired accuracy difference.

    Returns:
        None when the version never served in shadow.
    """
    from lockgate.serving.prediction_log import feedback_path
    from lockgate.serving.shadow import shadow_path

    path = shadow_path(settings, model_name)
    if not (path / "_delta_log").is_dir():
        return None
    rows = (scan_log(path).filter(pl.col("model_version") == version)
            .select("request_id", "timestamp", "prediction", "primary_prediction")
            .collect())
    if rows.height == 0:
        return None
    agree = cast(float, (rows["prediction"].cast(pl.String)
                         == rows["primary_prediction"].cast(pl.String)).mean() or 0.0)
    span = cast(Any, rows["timestamp"].max()) - cast(Any, rows["timestamp"].min())
    paired = _paired(rows, feedback_path(settings, model_name), n_bootstrap, seed)
    interval = paired["interval"] if paired else None
    return ShadowEvidence(version, rows.height, span.total_seconds(), agree,
                          paired["n"] if paired else 0,
                          paired["difference"] if paired else None,
                          tuple(interval) if interval else None)
