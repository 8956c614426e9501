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
    labels = [str(v.item() if hasattr(v, "item") else v) for v in pipeline.predict(x)]
    out = pl.DataFrame({"prediction": labels}, schema={"prediction": pl.String})
    if problem_type == "binary" and hasattr(pipeline, "predict_proba"):
        out = out.with_columns(pl.Series("probability", pipeline.predict_proba(x)[:, 1],
                                         dtype=pl.Float64))
    return out


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
