"""The scikit-learn flavor: estimators and pipelines made of scikit-learn (and lockgate)
types, in one skops file loaded with the trusted-type list (never pickle)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lockgate.artifacts.flavors.flavor import Flavor, FlavorError, SavedModel, module_of

NAME = "sklearn"
MODEL_FILE = "model.skops"
#: Libraries whose estimators this flavor stores whole in skops.
LIBRARIES = ("sklearn", "lockgate")
#: skops types beyond scikit-learn/numpy/scipy/lockgate's that this flavor needs: none.
TRUSTED_TYPES: tuple[str, ...] = ()


def handles(model: Any) -> bool:
    """A fitted estimator whose class (and final step's class) is scikit-learn's or ours."""
    if not (hasattr(model, "fit") and hasattr(model, "get_params")):
        return False
    steps = getattr(model, "steps", None)
    final = steps[-1][1] if isinstance(steps, list) and steps else model
    return module_of(model) in LIBRARIES and module_of(final) in LIBRARIES


def save(model: Any) -> SavedModel:
    """The whole estimator as one skops file (its types are checked against the
    allowlist, with the operator's additions, where it is registered and loaded)."""
    from lockgate.artifacts.materializers import materializer_named

    try:
        data = materializer_named("skops").dump(model)
    except Exception as exc:
        raise FlavorError(f"The fitted model cannot be saved with skops: {exc}") from exc
    return SavedModel(NAME, {MODEL_FILE: data}, {"model_file": MODEL_FILE})


def load(files: Mapping[str, bytes], meta: Mapping[str, Any], trusted: Any = None) -> Any:
    """skops with the allowlisted types only (``trusted``: the caller's allowlist)."""
    from lockgate.artifacts.flavors.flavor import require_file
    from lockgate.artifacts.materializers import loads

    return loads(require_file(files, meta.get("model_file", MODEL_FILE), NAME), "skops",
                 trusted=trusted)


FLAVOR = Flavor(NAME, (), handles, save, load, TRUSTED_TYPES)
