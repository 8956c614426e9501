"""The profile of a model's own predictions on its holdout rows, made at registration.

It is the reference for prediction drift: what the model's outputs looked like on data
it was evaluated on. Without it a monitor can only compare live predictions with the
first span of live traffic, which is blind to a model that was wrong from the start.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from lockgate.data.contract import Contract
from lockgate.quality import profile

log = logging.getLogger("lockgate.registry")


def prediction_frame(pipeline: Any, rows: pl.DataFrame, features: Sequence[str],
                     problem_type: str) -> pl.DataFrame:
    """``prediction`` (and, for binary problems, ``probability`` of the positive class)
    for ``rows``, spelled as the server logs them (labels as Python's ``str``)."""
    x = rows.select(list(features)).to_pandas()
    if problem_type == "regression":
        return pl.DataFrame({"prediction": np.asarray(pipeline.predict(x), dtype=float)})
    if problem_type == "binary" and hasattr(pipeline, "predict_proba"):
        proba = np.asarray(pipeline.predict_proba(x))[:, 1]
        raw = _labels_from_binary_proba(pipeline, x, proba)
        return pl.DataFrame({"prediction": _label_text(raw),
                             "probability": pl.Series(proba, dtype=pl.Float64)})
    return pl.DataFrame({"prediction": _label_text(pipeline.predict(x))},
                        schema={"prediction": pl.String})


#: Final estimators whose binary ``predict`` is the class whose probability is above
#: 0.5 (``classes_[argmax(proba)]`` for forests and trees, ``decision > 0`` with a
#: probability that is a monotone link of the decision for the others): for them one
#: ``predict_proba`` call gives both answers, and only an exact 0.5 (where rounding can
#: hide the decision's sign) is asked of ``predict``. Not SVC (Platt scaling can
#: disagree with its decision) nor any estimator not listed.
PROBA_DECIDES = ("HistGradientBoostingClassifier", "GradientBoostingClassifier",
                 "RandomForestClassifier", "ExtraTreesClassifier", "DecisionTreeClassifier",
                 "LogisticRegression")


def _labels_from_binary_proba(pipeline: Any, x: Any, proba: np.ndarray) -> np.ndarray:
    final = pipeline.steps[-1][1] if hasattr(pipeline, "steps") else pipeline
    known = (type(final).__module__.startswith("sklearn.")
             and type(final).__name__ in PROBA_DECIDES
             and getattr(final, "n_outputs_", 1) == 1)
    if not known:
        return np.asarray(pipeline.predict(x))
    classes = np.asarray(pipeline.classes_)
    labels = classes[(proba > 0.5).astype(int)]
    ties = np.flatnonzero(proba == 0.5)
    if ties.size:
        labels = labels.astype(object)
        labels[ties] = np.asarray(pipeline.predict(x.iloc[ties]))
    return labels


def _label_text(raw: Any) -> pl.Series:
    """Labels as Python's ``str`` spells them (``True``, ``1``, ``yes``), vectorised."""
    values = np.asarray(raw)
    if values.dtype == object:
        text = [str(v.item() if hasattr(v, "item") else v) for v in values]
    else:
        text = values.astype(str).tolist()
    return pl.Series("prediction", text, dtype=pl.String)


def holdout_prediction_profile(pipeline: Any, holdout: pl.DataFrame | None,
                               contract: Contract, evaluation: Mapping[str, Any]
                               ) -> dict[str, Any] | None:
    """The profile of the pipeline's predictions on the holdout rows (dict form).

    Returns None (and logs why) when there are no holdout rows or the pipeline cannot
    score them; the monitor then says its prediction-drift baseline is live traffic.
    """
    if holdout is None or holdout.height == 0:
        return None
    features = [c for c in contract.feature_columns if c in holdout.columns]
    problem_type = str(evaluation.get("problem_type", "binary"))
    try:
        frame = prediction_frame(pipeline, holdout, features, problem_type)
    except Exception as exc:  # the package is still valid; its drift reference is not
        log.warning("no prediction profile: the pipeline could not score the holdout "
                    "rows: %s: %s", type(exc).__name__, exc)
        return None
    return profile(frame).to_dict()
