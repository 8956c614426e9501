"""Honest evaluation: metrics by problem type with bootstrap confidence intervals, a
dummy baseline scored alongside, per-slice metrics, and the :class:`EvaluationRecord`
the registry's gates read.

Evaluation takes a fitted pipeline and held-out rows; it never refits the model. The
bootstrap resamples the holdout rows (200 replicates by default) as weight vectors, so
every metric of every replicate is a matrix product rather than a loop over sklearn
calls; the baseline comparison is paired on the same replicates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy import sparse
from sklearn.dummy import DummyClassifier, DummyRegressor

from lockgate.modeling.errors import EvaluationError
from lockgate.modeling.splitter import as_polars

METRICS = {
    "binary": ("roc_auc", "pr_auc", "log_loss", "f1", "accuracy", "brier"),
    "multiclass": ("roc_auc", "log_loss", "f1_macro", "accuracy"),
    "regression": ("rmse", "mae", "r2", "mape"),
}
PRIMARY = {"binary": "roc_auc", "multiclass": "roc_auc", "regression": "rmse"}
LOWER_IS_BETTER = frozenset({"log_loss", "brier", "rmse", "mae", "mape"})
_EPS = 1e-15


@dataclass(frozen=True, slots=True)
class EvaluationRecord:
    """Everything the registry's gates need to judge a model, JSON-ready."""

    problem_type: str
    primary_metric: str
    greater_is_better: bool
    metrics: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    baseline_metrics: dict[str, float]
    beats_baseline: bool
    cv_metrics: dict[str, list[float]]
    findings: list[dict]
    leak_free: bool
    splitter: str
    splitter_reason: str
    dataset: dict
    holdout: dict
    slices: dict = field(default_factory=dict)
    naive: dict = field(default_factory=dict)
    #: Permutation importance on the holdout, per input feature (mean score drop); it
    #: travels in the model package so monitoring can weight drift by it.
    feature_importance: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["intervals"] = {k: [lo, hi] for k, (lo, hi) in self.intervals.items()}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvaluationRecord:
        values = dict(data)
        values["intervals"] = {k: (float(v[0]), float(v[1]))
                               for k, v in data.get("intervals", {}).items()}
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in names})

    def __repr__(self) -> str:
        from lockgate.modeling.display import evaluation_text

        return evaluation_text(self)

    def _repr_html_(self) -> str:
        from lockgate.modeling.display import evaluation_html

        return evaluation_html(self)


@dataclass(frozen=True, slots=True)
class Predictions:
    """Held-out truth and predictions, classes encoded as positions in ``classes``."""

    problem_type: str
    y_true: np.ndarray            # class positions (-1: class unseen in training) or values
    y_pred: np.ndarray            # class positions or values
    proba: np.ndarray | None = None  # (n, k) for classification
    classes: tuple[Any, ...] = ()

    @property
    def probabilities(self) -> np.ndarray:
        """``proba``, which every classification prediction has (regression has none)."""
        if self.proba is None:
            raise ValueError(f"{self.problem_type} predictions carry no class probabilities")
        return self.proba


def problem_type_of(target: pl.Series | npt.ArrayLike, column_type: str | None = None) -> str:
    """Binary, multiclass or regression, from the contract type and the values.

    Floats are regression; strings, categories and booleans are classification; an int
    target with at most 10 distinct values is classification, otherwise regression.
    """
    series = target if isinstance(target, pl.Series) else pl.Series(np.asarray(target))
    distinct = series.drop_nulls().n_unique()
    kind = column_type or ("float" if series.dtype.is_float() else
                           "int" if series.dtype.is_integer() else "string")
    if kind == "float" or (kind == "int" and distinct > 10):
        return "regression"
    if distinct < 2:
        raise EvaluationError(
            f"Target `{series.name}` has {distinct} distinct value(s); a model needs at "
            "least two classes or a numeric target."
        )
    return "binary" if distinct == 2 else "multiclass"


def predict(pipeline: Any, frame: Any, target: str, problem_type: str) -> Predictions:
    """Predictions of a fitted pipeline on rows that carry the target."""
    df = as_polars(frame)
    features = df.drop(target)
    if problem_type == "regression":
        y = df[target].cast(pl.Float64).to_numpy()
        return Predictions(problem_type, y, np.asarray(pipeline.predict(features), float), None)
    classes = tuple(pipeline.classes_)
    proba = np.asarray(pipeline.predict_proba(features), dtype=np.float64)
    return Predictions(problem_type, encode_classes(df[target].to_numpy(), classes),
                       proba.argmax(axis=1), proba, classes)


def encode_classes(values: np.ndarray, classes: Sequence[Any]) -> np.ndarray:
    """Positions of ``values`` in ``classes`` (-1 for a class the model never saw)."""
    lookup = {str(c): i for i, c in enumerate(classes)}
    return np.fromiter((lookup.get(str(v), -1) for v in values), np.int64, len(values))


def metric_values(pred: Predictions, weights: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Every metric of the problem type, once per row of ``weights`` (bootstrap counts).

    ``weights`` is (replicates, n); None means one replicate of all ones (the point
    estimate). Matches scikit-learn's definitions (tested against them).
    """
    n = len(pred.y_true)
    if n == 0:
        raise EvaluationError("No held-out rows to evaluate on; the holdout is empty.")
    w = np.ones((1, n)) if weights is None else np.asarray(weights, dtype=np.float64)
    if pred.problem_type == "regression":
        return _regression(pred.y_true, pred.y_pred, w)
    if pred.problem_type == "binary":
        return _binary(pred, w)
    return _multiclass(pred, w)


def point_metrics(pred: Predictions) -> dict[str, float]:
    """Point estimates of every metric on the held-out rows."""
    return {k: float(v[0]) for k, v in metric_values(pred).items()}


def bootstrap_weights(n: int, replicates: int, seed: int) -> np.ndarray:
    """Bootstrap resamples of ``n`` rows as count vectors, shape (replicates, n)."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, (replicates, n)) + (np.arange(replicates) * n)[:, None]
    counts = np.bincount(draws.ravel(), minlength=replicates * n)
    return counts.reshape(replicates, n).astype(np.float32)


def fit_baseline(train: Any, target: str, problem_type: str) -> Any:
    """The dummy model (class prior / mean) fitted on the training rows."""
    df = as_polars(train)
    x = np.zeros((df.height, 1))
    if problem_type == "regression":
        return DummyRegressor(strategy="mean").fit(x, df[target].cast(pl.Float64).to_numpy())
    return DummyClassifier(strategy="prior").fit(x, df[target].to_numpy())


def baseline_predictions(baseline: Any, test: Any, target: str, problem_type: str) -> Predictions:
    df = as_polars(test)
    x = np.zeros((df.height, 1))
    if problem_type == "regression":
        return Predictions(problem_type, df[target].cast(pl.Float64).to_numpy(),
                           baseline.predict(x).astype(float), None)
    proba = baseline.predict_proba(x)
    classes = tuple(baseline.classes_)
    return Predictions(problem_type, encode_classes(df[target].to_numpy(), classes),
                       proba.argmax(axis=1), proba, classes)


@dataclass(frozen=True, slots=True)
class Scores:
    """Holdout scores of the model and the baseline, with paired bootstrap."""

    metrics: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    baseline: dict[str, float]
    beats_baseline: bool
    primary: str
    greater_is_better: bool


def score(pred: Predictions, base: Predictions, *, replicates: int = 200,
          seed: int = 0) -> Scores:
    """Point metrics, 95% bootstrap intervals, and whether the model beats the baseline.

    The model beats the baseline when, on at least 97.5% of the paired bootstrap
    replicates, its primary metric is better than the baseline's.
    """
    problem = pred.problem_type
    primary = PRIMARY[problem]
    greater = primary not in LOWER_IS_BETTER
    weights = bootstrap_weights(len(pred.y_true), replicates, seed)
    boot, boot_base = metric_values(pred, weights), metric_values(base, weights)
    intervals = {k: _interval(v) for k, v in boot.items()}
    diff = boot[primary] - boot_base[primary]
    diff = diff if greater else -diff
    diff = diff[~np.isnan(diff)]
    beats = bool(diff.size and np.quantile(diff, 0.025) > 0)
    return Scores(point_metrics(pred), intervals, point_metrics(base), beats, primary, greater)


def slice_metrics(pred: Predictions, frame: Any, columns: Sequence[str], *,
                  top: int = 10, min_rows: int = 20) -> dict[str, dict[str, dict[str, float]]]:
    """Metrics per value of each slice column (the ``top`` most frequent values).

    Raises:
        EvaluationError: a slice column is not in the held-out rows.
    """
    df = as_polars(frame)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise EvaluationError(f"Slice columns {missing} are not in the data; columns are "
                              f"{df.columns}.")
    out: dict[str, dict[str, dict[str, float]]] = {}
    for column in columns:
        values = df[column].cast(pl.String).fill_null("<null>")
        counts = values.value_counts(sort=True).head(top)
        out[column] = {}
        for value, count in counts.iter_rows():
            if count < min_rows:
                continue
            mask = (values == value).to_numpy()
            sub = Predictions(pred.problem_type, pred.y_true[mask], pred.y_pred[mask],
                              None if pred.proba is None else pred.proba[mask], pred.classes)
            out[column][str(value)] = {"n": float(count)} | point_metrics(sub)
    return out


def _interval(values: np.ndarray) -> tuple[float, float]:
    finite = values[~np.isnan(values)]
    if finite.size == 0:
        return (math.nan, math.nan)
    lo, hi = np.quantile(finite, [0.025, 0.975])
    return (float(lo), float(hi))


def _regression(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray]:
    total = w.sum(axis=1)
    err = y - p
    sse = w @ err**2
    mean = (w @ y) / total
    sst = w @ y**2 - total * mean**2
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(sst > 0, 1 - sse / sst, np.nan)
    return {
        "rmse": np.sqrt(sse / total),
        "mae": (w @ np.abs(err)) / total,
        "r2": r2,
        "mape": (w @ (np.abs(err) / np.maximum(np.abs(y), np.finfo(np.float64).eps))) / total,
    }


def _binary(pred: Predictions, w: np.ndarray) -> dict[str, np.ndarray]:
    total = w.sum(axis=1)
    t = (pred.y_true == 1).astype(np.float64)
    p = np.clip(pred.probabilities[:, 1], 0, 1)
    hard = (pred.y_pred == 1).astype(np.float64)
    tp, fp, fn = w @ (hard * t), w @ (hard * (1 - t)), w @ ((1 - hard) * t)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
    pc = np.clip(p, _EPS, 1 - _EPS)
    auc, ap = _ranking(t, p, w)
    return {
        "roc_auc": auc,
        "pr_auc": ap,
        "log_loss": (w @ -(t * np.log(pc) + (1 - t) * np.log(1 - pc))) / total,
        "f1": f1,
        "accuracy": (w @ (hard == t)) / total,
        "brier": (w @ (p - t) ** 2) / total,
    }


def _multiclass(pred: Predictions, w: np.ndarray) -> dict[str, np.ndarray]:
    total = w.sum(axis=1)
    proba = pred.probabilities
    k = proba.shape[1]
    truth = pred.y_true
    picked = np.where(truth >= 0, proba[np.arange(len(truth)), np.maximum(truth, 0)], 0.0)
    aucs, f1s = [], []
    for c in range(k):
        t = (truth == c).astype(np.float64)
        hard = (pred.y_pred == c).astype(np.float64)
        tp, fp, fn = w @ (hard * t), w @ (hard * (1 - t)), w @ ((1 - hard) * t)
        with np.errstate(divide="ignore", invalid="ignore"):
            f1s.append(np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0))
        aucs.append(_ranking(t, proba[:, c], w)[0])
    return {
        "roc_auc": np.nanmean(np.vstack(aucs), axis=0) if aucs else np.full(len(w), np.nan),
        "log_loss": (w @ -np.log(np.clip(picked, _EPS, 1))) / total,
        "f1_macro": np.mean(np.vstack(f1s), axis=0),
        "accuracy": (w @ (pred.y_pred == truth).astype(np.float64)) / total,
    }


def _ranking(t: np.ndarray, score: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC AUC (ties count half) and average precision, per weight row.

    Scores are grouped into distinct levels once; per replicate only cumulative sums over
    the levels are needed, in float32 (exact for counts below 2**24).
    """
    levels, bucket = np.unique(score, return_inverse=True)  # ascending scores
    n, b = len(t), len(levels)
    rows = np.arange(n)
    pos = sparse.csr_matrix((t.astype(np.float32), (rows, bucket)), shape=(n, b))
    neg = sparse.csr_matrix(((1 - t).astype(np.float32), (rows, bucket)), shape=(n, b))
    w32 = np.asarray(w, dtype=np.float32)
    wp = np.ascontiguousarray((pos.T @ w32.T).T)  # (replicates, levels)
    wn = np.ascontiguousarray((neg.T @ w32.T).T)
    p_total = wp.sum(axis=1, dtype=np.float64)
    n_total = wn.sum(axis=1, dtype=np.float64)
    cum_p = np.cumsum(wp, axis=1)  # positives at or below each level
    # AUC = sum_b N_b * (positives strictly above b + half the positives at b)
    below = np.einsum("ij,ij->i", wn, cum_p, dtype=np.float64)
    ties = np.einsum("ij,ij->i", wn, wp, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (p_total * n_total - below + 0.5 * ties) / (p_total * n_total)
    # AP over descending thresholds: tp_b = positives with score >= level b
    tp = p_total[:, None].astype(np.float32) - cum_p + wp
    del cum_p
    fp = n_total[:, None].astype(np.float32) - np.cumsum(wn, axis=1) + wn
    fp += tp
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(tp, fp, out=tp, where=fp > 0)
        tp[fp <= 0] = 0.0
        ap = np.einsum("ij,ij->i", wp, tp, dtype=np.float64) / p_total
    bad = (p_total == 0) | (n_total == 0)
    auc[bad] = np.nan
    ap[p_total == 0] = np.nan
    return auc, ap
