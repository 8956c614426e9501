"""Naive protocols, scored only to be shown next to the honest score.

What a careless workflow would have reported: the score on the training rows
("train_score"), or a random K-fold with the preprocessing fitted on all rows first
("random_split_preprocessed_all"). lockgate never reports these as the model's score;
the gap between them and the honest score is the size of the mistake they hide.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import KFold, StratifiedKFold

from lockgate.data.finding import Finding, Severity
from lockgate.modeling.errors import NaiveProtocolError
from lockgate.modeling.evaluation import Predictions, point_metrics
from lockgate.modeling.leakage import no_holdout
from lockgate.modeling.nested_cv import predictions_for

PROTOCOLS = ("train_score", "random_split_preprocessed_all")


def naive_scores(protocols: Sequence[str], *, model: Any, pipeline: Any, x: pd.DataFrame,
                 y: np.ndarray, dev: np.ndarray, problem_type: str, n_splits: int,
                 seed: int) -> dict[str, dict[str, Any]]:
    """Score each naive protocol; each entry has ``metrics`` and the ``findings`` that
    make it dishonest."""
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown:
        raise NaiveProtocolError(f"Unknown naive protocols {unknown}; choose from {PROTOCOLS}.")
    out: dict[str, dict[str, Any]] = {}
    for protocol in protocols:
        if protocol == "train_score":
            pred = predictions_for(model, x.iloc[dev], y[dev], problem_type)
            finding = no_holdout("training-set")
        else:
            pred = _random_split_all_rows(pipeline, x, y, problem_type, n_splits, seed)
            finding = Finding(
                "preprocessing_outside_cv", Severity.BLOCKING,
                "Preprocessing fitted on all rows before a random K-fold: test folds shaped "
                "the features and structure (time, entities) was ignored.",
                {"protocol": protocol},
            )
        out[protocol] = {"metrics": point_metrics(pred), "findings": [finding.to_dict()]}
    return out


def _random_split_all_rows(pipeline: Any, x: pd.DataFrame, y: np.ndarray, problem_type: str,
                           n_splits: int, seed: int) -> Any:
    steps = list(pipeline.steps)
    transformed = clone(pipeline[:-1]).fit_transform(x, y) if len(steps) > 1 else x
    estimator = steps[-1][1]
    cv: Any = (KFold(n_splits, shuffle=True, random_state=seed) if problem_type == "regression"
               else StratifiedKFold(n_splits, shuffle=True, random_state=seed))
    preds = []
    for train, test in cv.split(transformed, y):
        model = clone(estimator).fit(_rows(transformed, train), y[train])
        preds.append((test, predictions_for(model, _rows(transformed, test), y[test],
                                            problem_type)))
    first = preds[0][1]
    proba = None if first.proba is None else np.vstack([p.probabilities for _, p in preds])
    stitched = Predictions(problem_type, np.concatenate([p.y_true for _, p in preds]),
                           np.concatenate([p.y_pred for _, p in preds]), proba, first.classes)
    return stitched


def _rows(values: Any, rows: np.ndarray) -> Any:
    return values.iloc[rows] if hasattr(values, "iloc") else values[rows]
