"""Live performance: the join with late labels, coverage, delay and metrics."""

from __future__ import annotations

import polars as pl
import pytest

from lockgate.config import Settings
from lockgate.monitoring import WatchedModel
from lockgate.monitoring.performance import (
    degradation,
    label_strings,
    labeled_predictions,
    live_performance,
)
from lockgate.serving import feedback_path, predictions_path
from tests.monitoring.monitoring_cases import BASE, make_frame


def test_labels_join_with_delay_and_coverage(settings: Settings, model: WatchedModel,
                                            log_predictions, send_feedback) -> None:
    logged = log_predictions(model, make_frame(400, seed=7), start=BASE, seconds=3600)
    half = logged.head(200)
    send_feedback(model, half, half["truth"], delay=1800)
    # a corrected label for one request: the latest one counts
    send_feedback(model, half.head(1), ["1" if half["truth"][0] == "0" else "0"], delay=3600)
    joined, n = labeled_predictions(predictions_path(settings, model.name),
                                    feedback_path(settings, model.name), BASE, BASE + 3600)
    perf = live_performance(joined, n, "binary", positive_label="1")
    assert n == 400 and perf.n_labeled == 200 and perf.coverage == 0.5
    assert perf.delay_p50_s == pytest.approx(1800, abs=1)
    truth = half["truth"].to_list()
    truth[0] = "1" if truth[0] == "0" else "0"
    expected = sum(p == t for p, t in zip(half["prediction"], truth, strict=True)) / 200
    assert perf.metrics["accuracy"] == pytest.approx(expected)
    assert 0.5 < perf.metrics["roc_auc"] <= 1.0
    assert 0 < perf.metrics["brier"] < 0.25 and perf.metrics["log_loss"] > 0


def test_binary_metrics_match_sklearn(settings: Settings, model: WatchedModel,
                                      log_predictions, send_feedback) -> None:
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    logged = log_predictions(model, make_frame(300, seed=11), start=BASE, seconds=3600)
    send_feedback(model, logged, logged["truth"], delay=60)
    joined, n = labeled_predictions(predictions_path(settings, model.name),
                                    feedback_path(settings, model.name), BASE, BASE + 3600)
    perf = live_performance(joined, n, "binary", positive_label="1")
    y = (label_strings(joined["label"]) == "1").cast(pl.Int64).to_numpy()
    p = joined["probability"].cast(pl.Float64).to_numpy()
    assert perf.metrics["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert perf.metrics["log_loss"] == pytest.approx(log_loss(y, p, labels=[0, 1]))
    assert perf.metrics["brier"] == pytest.approx(brier_score_loss(y, p))
    assert set(perf.metrics) == {"accuracy", "roc_auc", "log_loss", "brier"}


def test_no_feedback_table_yet(settings: Settings, model: WatchedModel,
                               log_predictions) -> None:
    log_predictions(model, make_frame(50, seed=8), start=BASE, seconds=60)
    joined, n = labeled_predictions(predictions_path(settings, model.name),
                                    feedback_path(settings, model.name), BASE, BASE + 60)
    perf = live_performance(joined, n, "binary", positive_label="1")
    assert n == 50 and perf.n_labeled == 0 and perf.metrics == {} and perf.coverage == 0


def test_regression_metrics() -> None:
    joined = pl.DataFrame({
        "timestamp": pl.Series([0, 0], dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
        "label_timestamp": pl.Series([10_000_000, 30_000_000],
                                     dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
        "prediction": [1.0, 4.0], "probability": [None, None], "label": [2.0, 2.0]})
    perf = live_performance(joined, 2, "regression")
    assert perf.metrics == {"rmse": pytest.approx((2.5) ** 0.5), "mae": 1.5}
    assert perf.delay_p50_s == pytest.approx(20)


def test_label_strings_normalise_numbers() -> None:
    assert label_strings(pl.Series([1.0, 0.0, 2.5])).to_list() == ["1", "0", "2.5"]
    assert label_strings(pl.Series(["1.0", "0"])).to_list() == ["1", "0"]
    assert label_strings(pl.Series(["yes", "no"])).to_list() == ["yes", "no"]
    assert label_strings(pl.Series([True, False])).to_list() == ["True", "False"]
    assert label_strings(pl.Series(["true", "False", None])).to_list() == ["True", "False",
                                                                            None]


def test_degradation_uses_the_primary_metric_and_its_direction() -> None:
    evaluation = {"primary_metric": "roc_auc", "metrics": {"roc_auc": 0.9, "accuracy": 0.8}}
    assert degradation({"roc_auc": 0.7, "accuracy": 0.79}, evaluation) == (
        "roc_auc", pytest.approx(0.2))
    assert degradation({"accuracy": 0.7}, evaluation) == ("accuracy", pytest.approx(0.1))
    assert degradation({"rmse": 3.0}, {"primary_metric": "rmse", "metrics": {"rmse": 2.0}}) \
        == ("rmse", pytest.approx(1.0))
    assert degradation({}, evaluation) == (None, None)
