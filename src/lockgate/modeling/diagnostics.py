"""Diagnostics logged with a training run: learning curves of boosting models,
permutation importance and the evaluation charts.

Everything here reads the fitted model and the holdout; nothing is refit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.metrics import get_scorer, log_loss, root_mean_squared_error

from lockgate.modeling.charts import diagnostic_figures, learning_curve_figure
from lockgate.modeling.evaluation import Predictions
from lockgate.modeling.nested_cv import SCORERS, SCORERS_MULTICLASS
from lockgate.tracking import Run

_CURVE_ROWS = 1000


def diagnostics(run: Run, job: Any, model: Any, pred: Predictions,
                plan: Any) -> dict[str, float]:
    """Log learning curves, permutation importance and charts for the holdout.

    Returns:
        The mean permutation importance per input feature (empty without charts); the
        caller keeps it in ``EvaluationRecord.feature_importance`` (read by monitoring)
        and the spread across repeats is in the ``chart_permutation_importance`` figure.
    """
    x, y = job.x.iloc[plan.holdout], job.y[plan.holdout]
    curves = learning_curves(model, x, y, job.problem_type)
    for key, values in curves.items():
        for step, value in enumerate(values):
            run.log_metric(key, value, step=step)
    if not job.config.charts:
        return {}
    importance = importances(model, x, y, job.problem_type, job.config.importance_rows,
                             job.config.seed)
    figures = diagnostic_figures(pred, importance)
    if curves:
        figures["chart_learning_curve"] = learning_curve_figure(curves)
    for name, figure in figures.items():
        run.log_figure(figure, name)
    return {name: float(mean) for name, (mean, _std) in importance.items()}


def learning_curves(model: Any, x: pd.DataFrame, y: np.ndarray,
                    problem_type: str) -> dict[str, list[float]]:
    """Holdout loss per boosting iteration (staged predictions), plus the curves the
    estimator kept itself (``evals_result_``, ``validation_score_``)."""
    estimator = model[-1] if hasattr(model, "steps") else model
    curves: dict[str, list[float]] = {}
    own = getattr(estimator, "evals_result_", None)
    if isinstance(own, dict):  # XGBoost / LightGBM
        for data_name, metrics in own.items():
            for metric, values in metrics.items():
                curves[f"curve_{data_name}_{metric}"] = [float(v) for v in values]
    for attr in ("train_score_", "validation_score_"):
        values = getattr(estimator, attr, None)
        if values is not None and len(values) > 1:
            curves[f"curve_{attr.rstrip('_')}"] = [float(v) for v in values]
    if len(x) == 0:
        return curves
    rows = np.arange(len(x))
    if len(rows) > _CURVE_ROWS:
        rows = np.sort(np.random.default_rng(0).choice(len(rows), _CURVE_ROWS, replace=False))
    transformed = model[:-1].transform(x.iloc[rows]) if hasattr(model, "steps") and len(
        model.steps) > 1 else x.iloc[rows]
    truth = y[rows]
    if problem_type != "regression" and hasattr(estimator, "staged_predict_proba"):
        labels = list(estimator.classes_)
        curves["curve_holdout_log_loss"] = [
            float(log_loss(truth, p, labels=labels))
            for p in estimator.staged_predict_proba(transformed)
        ]
    elif problem_type == "regression" and hasattr(estimator, "staged_predict"):
        curves["curve_holdout_rmse"] = [
            float(root_mean_squared_error(truth.astype(float), p))
            for p in estimator.staged_predict(transformed)
        ]
    return curves


def importances(model: Any, x: pd.DataFrame, y: np.ndarray, problem_type: str, rows: int,
                seed: int, repeats: int = 3) -> dict[str, tuple[float, float]]:
    """Permutation importance of each raw feature column on (a sample of) the holdout.

    With the contract's preprocessing (row-wise: impute, scale, encode, calendar parts),
    permuting a raw column permutes exactly the output columns it produced, so the
    features are transformed once and only the estimator predicts per permutation.
    """
    if len(x) < 10:
        return {}
    keep = np.arange(len(x))
    if len(keep) > rows:
        keep = np.sort(np.random.default_rng(seed).choice(len(keep), rows, replace=False))
    scorer_names = SCORERS_MULTICLASS if problem_type == "multiclass" else SCORERS
    scoring = scorer_names["rmse" if problem_type == "regression" else "roc_auc"]
    truth = y[keep]
    if problem_type != "regression" and len(np.unique(truth.astype(str))) < 2:
        return {}
    groups = _output_groups(model, list(x.columns))
    if groups is None:
        result = permutation_importance(model, x.iloc[keep], truth, scoring=scoring,
                                        n_repeats=repeats, random_state=seed)
        return {name: (float(m), float(s)) for name, m, s in
                zip(x.columns, result.importances_mean, result.importances_std, strict=True)}
    transformed = np.asarray(model[:-1].transform(x.iloc[keep]), dtype=np.float64)
    estimator, scorer = model[-1], get_scorer(scoring)
    base = scorer(estimator, transformed, truth)
    rng = np.random.default_rng(seed)
    out = {}
    for name, columns in groups.items():
        drops = []
        for _ in range(repeats):
            permuted = transformed.copy()
            permuted[:, columns] = transformed[rng.permutation(len(keep))][:, columns]
            drops.append(base - scorer(estimator, permuted, truth))
        out[name] = (float(np.mean(drops)), float(np.std(drops)))
    return out


def _output_groups(model: Any, features: list[str]) -> dict[str, list[int]] | None:
    """Output column positions of each raw feature, for the contract's preprocessing."""
    if not hasattr(model, "steps") or model.steps[0][0] != "features" or len(model.steps) != 2:
        return None
    try:
        names = model[0].get_feature_names_out()
    except (AttributeError, ValueError):
        return None
    by_length = sorted(features, key=len, reverse=True)  # "plan_type" before "plan"
    groups: dict[str, list[int]] = {f: [] for f in features}
    for position, full in enumerate(names):
        bare = str(full).split("__", 1)[-1]
        owner = next((f for f in by_length if bare == f or bare.startswith(f + "_")), None)
        if owner is None:
            return None
        groups[owner].append(position)
    return {k: v for k, v in groups.items() if v}
