"""Estimators named by text (for the CLI and config files): a dotted class path plus
keyword parameters, e.g. ``sklearn.ensemble.HistGradientBoostingClassifier``."""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from typing import Any

from lockgate.errors import close_matches
from lockgate.modeling.errors import EstimatorSpecError

#: Short names for common estimators.
SHORT_NAMES = {
    "hgb-classifier": "sklearn.ensemble.HistGradientBoostingClassifier",
    "hgb-regressor": "sklearn.ensemble.HistGradientBoostingRegressor",
    "logistic": "sklearn.linear_model.LogisticRegression",
    "ridge": "sklearn.linear_model.Ridge",
    "rf-classifier": "sklearn.ensemble.RandomForestClassifier",
    "rf-regressor": "sklearn.ensemble.RandomForestRegressor",
}


def load_estimator(name: str, params: dict[str, Any] | None = None) -> Any:
    """Import the class ``name`` (a short name or a dotted path) and build it.

    Raises:
        EstimatorSpecError: unknown module or class, not an estimator, bad parameters.
    """
    path = SHORT_NAMES.get(name, name)
    module_name, _, class_name = path.rpartition(".")
    if not module_name:
        raise EstimatorSpecError(
            f"Estimator `{name}` is neither a short name ({', '.join(SHORT_NAMES)}) nor a "
            "dotted path like `sklearn.ensemble.HistGradientBoostingClassifier`."
        )
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise EstimatorSpecError(f"Cannot import estimator `{path}`: {exc}.") from exc
    _check_params(cls, path, params or {})
    try:
        estimator = cls(**(params or {}))
    except TypeError as exc:
        raise EstimatorSpecError(f"Bad parameters for `{path}`: {exc}.") from exc
    if not (hasattr(estimator, "fit") and hasattr(estimator, "get_params")):
        raise EstimatorSpecError(f"`{path}` is not a scikit-learn compatible estimator.")
    return estimator


def _check_params(cls: type, path: str, params: dict[str, Any]) -> None:
    """Name each unknown parameter with the closest ones the estimator has."""
    get_names = getattr(cls, "_get_param_names", None)
    if not params or get_names is None:
        return
    known = list(get_names())
    unknown = [k for k in params if k not in known]
    if unknown:
        raise EstimatorSpecError(f"Bad parameters for `{path}`: " + " ".join(
            f"no parameter `{k}`.{close_matches(k, known)}" for k in unknown
        ) + f" Its parameters: {', '.join(known)}.")


def parse_assignments(items: Sequence[str], *, lists: bool = False) -> dict[str, Any]:
    """``key=value`` pairs; values are JSON when they parse (numbers, null, lists), else
    text. With ``lists``, ``key=a,b`` gives a list of values to search over.

    Raises:
        EstimatorSpecError: an item without ``=``.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise EstimatorSpecError(f"`{item}` is not key=value (e.g. max_depth=3).")
        values = [_value(v) for v in raw.split(",")] if lists else _value(raw)
        out[key.strip()] = values
    return out


def _value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw
