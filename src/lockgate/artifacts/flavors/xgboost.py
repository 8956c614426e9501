"""The XGBoost flavor: the booster in XGBoost's native JSON model format.

XGBoost's JSON (or UBJSON) model holds the trees and the learner's configuration; its
C++ loader parses it and executes nothing. A pipeline ending in an ``XGBClassifier``/
``XGBRegressor`` keeps its preprocessing in skops.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lockgate.artifacts.flavors.booster_parts import (
    booster_file_bytes,
    is_pipeline_ending_in,
    load_booster_model,
    loaded_booster,
    native_booster,
    save_booster_model,
)
from lockgate.artifacts.flavors.flavor import Flavor, FlavorError, SavedModel, module_of

NAME = "xgboost"
BOOSTER_FILE = "booster.xgb.json"
#: Objectives whose prediction is what the scikit-learn class's predict/predict_proba use.
CLASSIFIER_OBJECTIVES = ("binary:logistic", "multi:softprob")
TRUSTED_TYPES: tuple[str, ...] = ()


def is_booster(value: Any) -> bool:
    """A fitted XGBoost scikit-learn model, a ``Booster``, or a loaded one."""
    if loaded_booster(value, NAME):
        return True
    return module_of(value) == "xgboost" and (
        hasattr(value, "get_booster") or type(value).__name__ == "Booster")


def handles(model: Any) -> bool:
    """XGBoost models alone or as the final step of a scikit-learn Pipeline."""
    return is_pipeline_ending_in(model, is_booster)


def save(model: Any) -> SavedModel:
    """Preprocessing (skops) + the booster as XGBoost JSON."""
    return save_booster_model(model, flavor=NAME, is_booster=is_booster,
                              booster_file=BOOSTER_FILE, dump=_dump)


def load(files: Mapping[str, bytes], meta: Mapping[str, Any], trusted: Any = None) -> Any:
    """Parse the JSON/UBJSON model with ``xgboost.Booster.load_model(bytearray)``."""
    import xgboost

    data = booster_file_bytes(files, meta, NAME)
    if data[:1] not in (b"{", b"["):  # JSON object, or UBJSON's object marker `{`
        raise FlavorError(f"`{meta.get('booster_file')}` is not an XGBoost JSON or UBJSON "
                          "model.")
    booster = xgboost.Booster()
    booster.load_model(bytearray(data))
    rounds = meta.get("iteration_range")
    if rounds is not None and not (isinstance(rounds, list) and len(rounds) == 2
                                   and all(isinstance(r, int) and r >= 0 for r in rounds)):
        raise FlavorError(f"The xgboost metadata's iteration_range must be [start, end], "
                          f"got {rounds!r}.")
    window = tuple(rounds) if rounds else (0, 0)
    return load_booster_model(files, meta, flavor=NAME, booster=booster,
                              scorer=lambda b, X: _score(b, X, window), trusted=trusted)


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
    import json

    config = json.loads(booster.save_config())
    return config.get("learner", {}).get("objective", {}).get("name")


def _score(booster: Any, X: Any, window: tuple[int, int]) -> Any:
    return booster.inplace_predict(X, iteration_range=window, validate_features=False)


FLAVOR = Flavor(NAME, ("xgboost",), handles, save, load, TRUSTED_TYPES)
