"""Metrics match scikit-learn, bootstrap intervals, the dummy baseline, slices and the
evaluation record's JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from sklearn import metrics as sk

from lockgate.modeling.evaluation import (
    EvaluationError,
    EvaluationRecord,
    Predictions,
    metric_values,
    point_metrics,
    problem_type_of,
    score,
    slice_metrics,
)

RNG = np.random.default_rng(0)


def _binary(n: int = 400, signal: float = 0.4) -> Predictions:
    y = RNG.integers(0, 2, n)
    p = np.round(np.clip(y * signal + RNG.random(n) * (1 - signal), 0, 1), 2)  # with ties
    return Predictions("binary", y, (p >= 0.5).astype(int), np.c_[1 - p, p], (False, True))


def test_binary_metrics_match_sklearn() -> None:
    pred = _binary()
    y, p = pred.y_true, pred.proba[:, 1]
    got = point_metrics(pred)
    assert got["roc_auc"] == pytest.approx(sk.roc_auc_score(y, p))
    assert got["pr_auc"] == pytest.approx(sk.average_precision_score(y, p))
    assert got["log_loss"] == pytest.approx(sk.log_loss(y, p))
    assert got["f1"] == pytest.approx(sk.f1_score(y, pred.y_pred))
    assert got["accuracy"] == pytest.approx(sk.accuracy_score(y, pred.y_pred))
    assert got["brier"] == pytest.approx(sk.brier_score_loss(y, p))


def test_weighted_metrics_equal_metrics_on_the_resample() -> None:
    pred = _binary(200)
    rows = RNG.integers(0, 200, 200)
    weights = np.bincount(rows, minlength=200)[None, :]
    resampled = metric_values(pred, weights)
    assert resampled["roc_auc"][0] == pytest.approx(
        sk.roc_auc_score(pred.y_true[rows], pred.proba[rows, 1]))
    assert resampled["pr_auc"][0] == pytest.approx(
        sk.average_precision_score(pred.y_true[rows], pred.proba[rows, 1]))


def test_multiclass_and_regression_metrics_match_sklearn() -> None:
    y = RNG.integers(0, 3, 300)
    proba = RNG.dirichlet([1, 1, 1], 300)
    proba[np.arange(300), y] += 0.6
    proba /= proba.sum(axis=1, keepdims=True)
    got = point_metrics(Predictions("multiclass", y, proba.argmax(1), proba, (0, 1, 2)))
    assert got["roc_auc"] == pytest.approx(sk.roc_auc_score(y, proba, multi_class="ovr"))
    assert got["log_loss"] == pytest.approx(sk.log_loss(y, proba))
    assert got["f1_macro"] == pytest.approx(sk.f1_score(y, proba.argmax(1), average="macro"))
    truth = RNG.normal(5, 2, 300)
    guess = truth + RNG.normal(0, 1, 300)
    reg = point_metrics(Predictions("regression", truth, guess))
    assert reg["rmse"] == pytest.approx(sk.root_mean_squared_error(truth, guess))
    assert reg["mae"] == pytest.approx(sk.mean_absolute_error(truth, guess))
    assert reg["r2"] == pytest.approx(sk.r2_score(truth, guess))
    assert reg["mape"] == pytest.approx(sk.mean_absolute_percentage_error(truth, guess))


def test_intervals_and_the_baseline_comparison() -> None:
    good = _binary(500, signal=0.5)
    base = Predictions("binary", good.y_true, np.zeros(500, int),
                       np.tile([0.5, 0.5], (500, 1)), (False, True))
    scores = score(good, base, replicates=200)
    lo, hi = scores.intervals["roc_auc"]
    assert lo < scores.metrics["roc_auc"] < hi and hi - lo < 0.1
    assert scores.baseline["roc_auc"] == 0.5 and scores.beats_baseline
    useless = Predictions("binary", good.y_true, good.y_pred,
                          np.tile([0.5, 0.5], (500, 1)) + RNG.normal(0, 1e-3, (500, 2)),
                          (False, True))
    assert not score(useless, base, replicates=200).beats_baseline


def test_slice_metrics_per_value() -> None:
    pred = _binary(300)
    frame = pl.DataFrame({"plan": (["a"] * 150) + (["b"] * 140) + (["c"] * 10)})
    out = slice_metrics(pred, frame, ["plan"])
    assert set(out["plan"]) == {"a", "b"}  # c has too few rows
    assert out["plan"]["a"]["n"] == 150
    with pytest.raises(EvaluationError, match=r"Slice columns \['tier'\]"):
        slice_metrics(pred, frame, ["tier"])


def test_problem_type_from_contract_type_and_values() -> None:
    assert problem_type_of(pl.Series("y", [True, False, True])) == "binary"
    assert problem_type_of(pl.Series("y", ["a", "b", "c"])) == "multiclass"
    assert problem_type_of(pl.Series("y", [1.5, 2.0])) == "regression"
    assert problem_type_of(pl.Series("y", list(range(50))), "int") == "regression"
    with pytest.raises(EvaluationError, match="has 1 distinct value"):
        problem_type_of(pl.Series("y", ["a", "a"]))


def test_record_round_trips_through_json() -> None:
    record = EvaluationRecord(
        "binary", "roc_auc", True, {"roc_auc": 0.8}, {"roc_auc": (0.75, 0.85)},
        {"roc_auc": 0.5}, True, {"roc_auc": [0.79, 0.81]},
        [{"code": "x", "severity": "info", "message": "m", "evidence": {}}], True, "iid",
        "why", {"table": "t", "version": 1, "dataset_version_id": 3},
        {"key": "id", "ids": [1, 2]})
    again = EvaluationRecord.from_dict(json.loads(json.dumps(record.to_dict())))
    assert again == record
