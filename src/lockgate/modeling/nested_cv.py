"""Cross-validation with an optional hyperparameter search nested inside it.

Each outer fold is one :class:`FoldTask`: the inner folds (built from the same structure
as the outer ones, on the outer training rows only) tune the hyperparameters, the outer
test rows estimate the tuned model. Tasks are plain data so an executor (local or Ray)
can run them anywhere.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

from lockgate.modeling.errors import SearchError
from lockgate.modeling.evaluation import Predictions, encode_classes, point_metrics

#: scikit-learn scorer names for each primary metric, all "greater is better".
SCORERS = {"roc_auc": "roc_auc", "rmse": "neg_root_mean_squared_error"}
SCORERS_MULTICLASS = {"roc_auc": "roc_auc_ovr"}


@dataclass(frozen=True, slots=True)
class SearchSpec:
    """What to tune and how: a grid (or distributions with ``n_iter``)."""

    param_grid: Mapping[str, Sequence[Any]] | None = None
    n_iter: int | None = None
    scoring: str = "roc_auc"
    seed: int = 0


@dataclass(frozen=True, slots=True)
class FoldTask:
    """One outer fold: row positions into the frame and the inner folds over its train."""

    name: str
    train: np.ndarray
    test: np.ndarray
    inner: tuple[tuple[np.ndarray, np.ndarray], ...]


@dataclass(frozen=True, slots=True)
class FoldResult:
    """Outer-fold metrics, the hyperparameters chosen inside it and the fit time."""

    name: str
    metrics: dict[str, float]
    best_params: dict[str, Any]
    fit_seconds: float
    n_train: int
    n_test: int


def prefixed_grid(param_grid: Mapping[str, Sequence[Any]] | None) -> dict[str, list[Any]]:
    """Grid keys addressed to the estimator step (``model__``) unless already prefixed."""
    if not param_grid:
        return {}
    out: dict[str, list[Any]] = {}
    for key, values in param_grid.items():
        full = key if key.startswith(("model__", "features__")) else f"model__{key}"
        # a scipy distribution (``rvs``) is kept as it is, for a randomized search
        out[full] = list(values) if not hasattr(values, "rvs") else cast(list[Any], values)
    return out


def check_grid(pipeline: Any, grid: Mapping[str, Any]) -> None:
    """Refuse grid keys the pipeline does not have, with close matches."""
    from lockgate.errors import close_matches

    known = pipeline.get_params(deep=True)
    bad = [k for k in grid if k not in known]
    if bad:
        own = [k.removeprefix("model__") for k in known if k.startswith("model__")]
        shown = [k.removeprefix("model__") for k in bad]
        hints = "".join(close_matches(k, own) for k in shown)
        raise SearchError(
            f"param_grid keys {shown} are not parameters of "
            f"{type(pipeline[-1]).__name__}.{hints} Use the estimator's own parameter "
            "names, e.g. {'max_depth': [3, 6]}, or `features__...` for preprocessing."
        )


def run_fold(task: FoldTask, pipeline: Any, x: pd.DataFrame, y: np.ndarray,
             problem_type: str, spec: SearchSpec) -> FoldResult:
    """Tune on the inner folds (when a grid is given), fit on the outer training rows,
    score on the outer test rows. The outer test rows are never seen by the search."""
    started = time.perf_counter()
    x_train, y_train = x.iloc[task.train], y[task.train]
    model, best = fit_model(pipeline, x_train, y_train, list(task.inner), problem_type, spec)
    seconds = time.perf_counter() - started
    metrics = point_metrics(predictions_for(model, x.iloc[task.test], y[task.test],
                                            problem_type))
    return FoldResult(task.name, metrics, best, seconds, len(task.train), len(task.test))


def fit_model(pipeline: Any, x: pd.DataFrame, y: np.ndarray,
              folds: list[tuple[np.ndarray, np.ndarray]], problem_type: str,
              spec: SearchSpec) -> tuple[Any, dict[str, Any]]:
    """Fit the pipeline, tuning with ``folds`` (positions into ``x``) when asked."""
    grid = prefixed_grid(spec.param_grid)
    if not grid:
        return clone(pipeline).fit(x, y), {}
    scoring = (SCORERS_MULTICLASS if problem_type == "multiclass" else SCORERS).get(
        spec.scoring, spec.scoring)
    if spec.n_iter:
        search: Any = RandomizedSearchCV(clone(pipeline), grid, n_iter=spec.n_iter, cv=folds,
                                         scoring=scoring, random_state=spec.seed,
                                         error_score="raise")
    else:
        search = GridSearchCV(clone(pipeline), grid, cv=folds, scoring=scoring,
                              error_score="raise")
    search.fit(x, y)
    return search.best_estimator_, _plain(search.best_params_)


def predictions_for(model: Any, x: pd.DataFrame, y: np.ndarray, problem_type: str) -> Predictions:
    """Predictions of a fitted model on feature rows ``x`` with targets ``y``."""
    if problem_type == "regression":
        return Predictions(problem_type, y.astype(float), np.asarray(model.predict(x), float))
    classes = tuple(model.classes_)
    proba = np.asarray(model.predict_proba(x), dtype=np.float64)
    return Predictions(problem_type, encode_classes(y, classes), proba.argmax(axis=1), proba,
                       classes)


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in params.items():
        if isinstance(value, np.generic):
            value = value.item()
        out[key.removeprefix("model__")] = value if isinstance(
            value, str | int | float | bool | type(None)) else repr(value)
    return out
