"""The XGBoost flavor: the booster in XGBoost's native JSON model format.

XGBoost's JSON (or UBJSON) model holds the trees and the learner's configuration; its
C++ loader parses it and executes nothing. A pipeline ending in an ``XGBClassifier``/
``XGBRegressor`` keeps its preprocessing in skops. What it shares with the other
boosters is in ``booster_parts``; this module holds what differs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from lockgate.artifacts.flavors.booster_parts import BoosterFormat, booster_flavor, native_booster
from lockgate.artifacts.flavors.flavor import FlavorError

NAME = "xgboost"
BOOSTER_FILE = "booster.xgb.json"
#: Objectives whose prediction is what the scikit-learn class's predict/predict_proba use.
CLASSIFIER_OBJECTIVES = ("binary:logistic", "multi:softprob")
TRUSTED_TYPES: tuple[str, ...] = ()


def _parse(data: bytes, meta: Mapping[str, Any]) -> tuple[Any, Callable[[Any, Any], Any]]:
    """Parse the JSON/UBJSON model with ``xgboost.Booster.load_model(bytearray)``, scored
    over the iteration window the metadata records."""
    import xgboost

    booster = xgboost.Booster()
    booster.load_model(bytearray(data))
    rounds = meta.get("iteration_range")
    if rounds is not None and not (isinstance(rounds, list) and len(rounds) == 2
                                   and all(isinstance(r, int) and r >= 0 for r in rounds)):
        raise FlavorError(f"The xgboost metadata's iteration_range must be [start, end], "
                          f"got {rounds!r}.")
    window = tuple(rounds) if rounds else (0, 0)
    return booster, lambda b, X: _score(b, X, window)


def _dump(final: Any) -> tuple[bytes, dict[str, Any]]:
    booster = native_booster(final)
    if booster is None:
        booster = final.get_booster() if hasattr(final, "get_booster") else final
        if callable(getattr(final, "objective", None)):
            raise FlavorError("An XGBoost model with a custom (Python) objective cannot be "
                              "saved code-free; train it with a built-in objective.")
    # The scikit-learn class predicts with the trees up to the best iteration when early
    # stopping recorded one; the JSON keeps the attribute, the window makes it explicit.
    best = booster.attr("best_iteration")
    window = [0, int(best) + 1] if best is not None else None
    objective = _objective(booster)
    if hasattr(final, "classes_") and objective not in CLASSIFIER_OBJECTIVES:
        raise FlavorError(f"XGBoost objective `{objective}` gives no class probabilities; "
                          f"use one of {', '.join(CLASSIFIER_OBJECTIVES)}.")
    return bytes(booster.save_raw(raw_format="json")), {"objective": objective,
                                                        "iteration_range": window}


def _objective(booster: Any) -> str | None:
    config = json.loads(booster.save_config())
    return config.get("learner", {}).get("objective", {}).get("name")


def _score(booster: Any, X: Any, window: tuple[int, int]) -> Any:
    return booster.inplace_predict(X, iteration_range=window, validate_features=False)


FORMAT = BoosterFormat(
    library=NAME, booster_file=BOOSTER_FILE, fitted_attribute="get_booster",
    # a JSON object, or UBJSON's object marker `{`
    magic=(b"{", b"["), not_native="an XGBoost JSON or UBJSON model.",
    parse=_parse, dump=_dump)
FLAVOR = booster_flavor(FORMAT, TRUSTED_TYPES)
