"""The LightGBM flavor: the booster in LightGBM's native text model format.

The text format is parsed by LightGBM's C++ loader (trees, thresholds, the pandas
category mapping as JSON); nothing in it is executed. A pipeline ending in an
``LGBMClassifier``/``LGBMRegressor`` keeps its preprocessing in skops.
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

NAME = "lightgbm"
BOOSTER_FILE = "booster.lgb.txt"
#: The native text holds no Python types: no skops types to trust beyond scikit-learn's.
TRUSTED_TYPES: tuple[str, ...] = ()


def is_booster(value: Any) -> bool:
    """A fitted LightGBM scikit-learn model, a ``Booster``, or a loaded one."""
    if loaded_booster(value, NAME):
        return True
    return module_of(value) == "lightgbm" and (
        hasattr(value, "booster_") or type(value).__name__ == "Booster")


def handles(model: Any) -> bool:
    """LightGBM models alone or as the final step of a scikit-learn Pipeline."""
    return is_pipeline_ending_in(model, is_booster)


def save(model: Any) -> SavedModel:
    """Preprocessing (skops) + the booster as LightGBM model text."""
    return save_booster_model(model, flavor=NAME, is_booster=is_booster,
                              booster_file=BOOSTER_FILE, dump=_dump)


def load(files: Mapping[str, bytes], meta: Mapping[str, Any], trusted: Any = None) -> Any:
    """Parse the model text with ``lightgbm.Booster(model_str=...)``."""
    import lightgbm

    text = booster_file_bytes(files, meta, NAME).decode("utf-8")
    if not text.startswith("tree\n"):
        raise FlavorError(f"`{meta.get('booster_file')}` is not a LightGBM text model "
                          "(it must begin with `tree`).")
    booster = lightgbm.Booster(model_str=text)
    return load_booster_model(files, meta, flavor=NAME, booster=booster, scorer=_score,
                              trusted=trusted)


def _dump(final: Any) -> tuple[bytes, dict[str, Any]]:
    booster = native_booster(final) or getattr(final, "booster_", final)
    objective = getattr(final, "objective", None)
    if callable(objective):
        raise FlavorError("A LightGBM model with a custom (Python) objective cannot be "
                          "saved code-free: its predictions depend on that function. Train "
                          "it with a built-in objective, or export it to ONNX.")
    # num_iteration=None saves the best iteration when early stopping found one, which
    # is what LGBMClassifier.predict uses.
    text = booster.model_to_string(num_iteration=None)
    return text.encode("utf-8"), {"objective": booster.params.get("objective")}


def _score(booster: Any, X: Any) -> Any:
    return booster.predict(X)


FLAVOR = Flavor(NAME, ("lightgbm",), handles, save, load, TRUSTED_TYPES)
