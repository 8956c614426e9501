"""The feature importance a package carries: permutation importance of each input
feature on the holdout, so monitoring can weight drift by what the model reads.

Training computes it when it draws its charts; a run trained without them (a
retraining pipeline, an imported or hand-logged model) would leave monitoring with
equal weights, silently. So the package is where it is made sure of: the training's
figures when the evaluation has them, else computed here on the package's holdout rows,
for any flavor (only ``predict``/``predict_proba`` are called).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import polars as pl

from lockgate.data.contract import Contract

log = logging.getLogger("lockgate.registry")

#: Where a package's figures come from: the training run's evaluation, or computed on
#: the holdout when the package was built.
ImportanceSource = Literal["training", "registration"]
#: Holdout rows (at most) and repeats of a permutation computed at registration: the
#: training's ``quick`` budget, enough to rank features, cheap next to a fit.
IMPORTANCE_ROWS = 1000
IMPORTANCE_REPEATS = 3


@dataclass(frozen=True, slots=True)
class FeatureImportance:
    """Mean drop of the primary score when each input feature is permuted, on holdout rows.

    Attributes:
        values: input feature -> mean drop in the score (can be slightly negative).
        source: ``training`` (the evaluation's figures) or ``registration``.
        rows: holdout rows permuted (0 when not known: figures from the training).
        scoring: the scikit-learn scorer whose drop is measured.
    """

    values: dict[str, float]
    source: ImportanceSource
    rows: int = 0
    scoring: str = ""
    method: str = field(default="permutation")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (``feature_importance.json`` in the package)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureImportance:
        """Read the package's form back."""
        return cls({str(k): float(v) for k, v in dict(data.get("values") or {}).items()},
                   data.get("source", "registration"), int(data.get("rows") or 0),
                   str(data.get("scoring") or ""), str(data.get("method") or "permutation"))


def package_importance(pipeline: Any, holdout: pl.DataFrame | None, contract: Contract,
                       evaluation: Mapping[str, Any]) -> FeatureImportance | None:
    """The importance a new package carries: the evaluation's permutation importance,
    else permutation importance computed now on ``holdout``.

    Returns None (and logs why) when the evaluation has none and there are no holdout
    rows with two classes (or the pipeline cannot score them); monitoring then says its
    root causes are unweighted.
    """
    features = contract.feature_columns
    trained = {str(k): float(v) for k, v in dict(
        evaluation.get("feature_importance") or {}).items() if str(k) in features}
    if trained:
        return FeatureImportance(trained, "training")
    if holdout is None or holdout.height == 0 or contract.target not in holdout.columns:
        log.warning("no feature importance: the evaluation has none and the package has "
                    "no holdout rows to compute it on")
        return None
    return _permutation(pipeline, holdout, contract, evaluation)


def _permutation(pipeline: Any, holdout: pl.DataFrame, contract: Contract,
                 evaluation: Mapping[str, Any]) -> FeatureImportance | None:
    problem_type = str(evaluation.get("problem_type", "binary"))
    features = [c for c in contract.feature_columns if c in holdout.columns]
    rows = holdout.filter(pl.col(str(contract.target)).is_not_null())
    if rows.height > IMPORTANCE_ROWS:
        rows = rows.sample(IMPORTANCE_ROWS, seed=0)
    x, y = rows.select(features).to_pandas(), np.asarray(rows[str(contract.target)])
    if rows.height < 10 or (problem_type != "regression" and len(np.unique(y.astype(str))) < 2):
        log.warning("no feature importance: fewer than 10 labeled holdout rows, or one class")
        return None
    try:
        base = _score(pipeline, x, y, problem_type)
        rng = np.random.default_rng(0)
        values = {}
        for name in features:
            drops = []
            for _ in range(IMPORTANCE_REPEATS):
                permuted = x.copy()
                permuted[name] = x[name].to_numpy()[rng.permutation(len(x))]
                drops.append(base - _score(pipeline, permuted, y, problem_type))
            values[name] = float(np.mean(drops))
    except Exception as exc:  # the package is still valid; its importance is not known
        log.warning("no feature importance: the pipeline could not score the permuted "
                    "holdout rows: %s: %s", type(exc).__name__, exc)
        return None
    return FeatureImportance(values, "registration", rows.height,
                             "neg_rmse" if problem_type == "regression" else "roc_auc")


def _score(pipeline: Any, x: Any, y: np.ndarray, problem_type: str) -> float:
    """ROC AUC (one-vs-rest when multiclass) or minus the RMSE, from ``predict_proba`` /
    ``predict`` only, so every flavor (ONNX and boosters included) is scored alike."""
    from sklearn.metrics import roc_auc_score, root_mean_squared_error

    if problem_type == "regression":
        return -float(root_mean_squared_error(y.astype(float), pipeline.predict(x)))
    proba = np.asarray(pipeline.predict_proba(x))
    classes = [str(c.item() if hasattr(c, "item") else c) for c in pipeline.classes_]
    truth = y.astype(str)
    if len(classes) == 2:
        return float(roc_auc_score(truth == classes[1], proba[:, 1]))
    return float(roc_auc_score(truth, proba, multi_class="ovr", labels=classes))
