"""The LightGBM flavor: the booster in LightGBM's native text model format.

The text format is parsed by LightGBM's C++ loader (trees, thresholds, the pandas
category mapping as JSON); nothing in it is executed. A pipeline ending in an
``LGBMClassifier``/``LGBMRegressor`` keeps its preprocessing in skops. What it shares
with the other boosters is in ``booster_parts``; this module holds what differs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from lockgate.artifacts.flavors.booster_parts import BoosterFormat, booster_flavor, native_booster
from lockgate.artifacts.flavors.flavor import FlavorError

NAME = "lightgbm"
BOOSTER_FILE = "booster.lgb.txt"
#: The native text holds no Python types: no skops types to trust beyond scikit-learn's.
TRUSTED_TYPES: tuple[str, ...] = ()


def _parse(data: bytes, meta: Mapping[str, Any]) -> tuple[Any, Callable[[Any, Any], Any]]:
    """Parse the model text with ``lightgbm.Booster(model_str=...)``."""
    import lightgbm

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FlavorError(f"`{meta.get('booster_file')}` is not UTF-8 LightGBM text: "
                          f"{exc}.") from exc
    return lightgbm.Booster(model_str=text), _score


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


FORMAT = BoosterFormat(
    library=NAME, booster_file=BOOSTER_FILE, fitted_attribute="booster_",
    magic=(b"tree\n",), not_native="a LightGBM text model (it must begin with `tree`).",
    parse=_parse, dump=_dump)
FLAVOR = booster_flavor(FORMAT, TRUSTED_TYPES)
