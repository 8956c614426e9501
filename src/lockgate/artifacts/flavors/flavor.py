"""A model flavor: how one family of fitted models is saved to safe, code-free files and
loaded back, without pickle.

A flavor is a small registered record, like a materializer: ``handles`` says whether it
applies to a model, ``save`` turns the model into flat files plus JSON metadata,
``load`` rebuilds a predicting model from exactly those files and that metadata. The
files are data: a flavor's loader parses them (skops with the trusted-type list, a
booster's native text/JSON, ONNX protobuf) and never executes anything found in them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lockgate.artifacts.trusted_types import TypeAllowlist
from lockgate.errors import ArtifactError, close_matches

#: File names a flavor may write: flat, no separators, no leading dot.
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class FlavorError(ArtifactError):
    """A model cannot be saved or loaded by any flavor, or its flavor files are unsafe."""


@dataclass(frozen=True, slots=True)
class SavedModel:
    """A model as its flavor wrote it: flat file name -> bytes, and JSON metadata."""

    flavor: str
    files: dict[str, bytes]
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Flavor:
    """How one family of models is saved and loaded.

    Attributes:
        name: the flavor's name, recorded in packages and artifacts.
        libraries: import names of the libraries loading needs beyond scikit-learn/skops.
        handles: whether this flavor saves a given fitted model.
        save: the model -> its files and metadata (raises FlavorError when it cannot).
        load: the files and metadata -> a model with ``predict`` (and ``predict_proba``,
            ``classes_`` for classifiers).
        trusted_types: skops types this flavor's own skops files hold beyond the
            scikit-learn and lockgate types every pipeline may hold (for the allowlist).
    """

    name: str
    libraries: tuple[str, ...]
    handles: Callable[[Any], bool]
    save: Callable[[Any], SavedModel]
    load: Callable[..., Any]  # (files, meta, trusted=None) -> model
    trusted_types: tuple[str, ...] = ()


_FLAVORS: dict[str, Flavor] = {}


def register_flavor(flavor: Flavor) -> None:
    """Add (or replace) a flavor. Flavors registered later are asked first."""
    _FLAVORS.pop(flavor.name, None)
    _FLAVORS[flavor.name] = flavor


def flavor_names() -> list[str]:
    """The registered flavors' names, in registration order."""
    return list(_FLAVORS)


def flavor_named(name: str) -> Flavor:
    """The flavor called ``name``.

    Raises:
        FlavorError: no such flavor (the message lists the registered ones).
    """
    if name not in _FLAVORS:
        raise FlavorError(f"Unknown model flavor `{name}`.{close_matches(name, _FLAVORS)} "
                          f"Flavors: {', '.join(_FLAVORS)}.")
    return _FLAVORS[name]


def flavor_for(model: object) -> Flavor:
    """The flavor that saves ``model``: the most specific one registered.

    Raises:
        FlavorError: no flavor handles the model's type, naming it and every flavor.
    """
    for flavor in reversed(_FLAVORS.values()):
        if flavor.handles(model):
            return flavor
    raise FlavorError(
        f"No model flavor handles a {describe(model)}. Flavors: {', '.join(_FLAVORS)} "
        "(scikit-learn estimators and pipelines; LightGBM, XGBoost and CatBoost models, "
        "alone or as a pipeline's final step; ONNX through lockgate.artifacts.OnnxModel). "
        "Export the model to ONNX, or register a flavor with "
        "`lockgate.artifacts.register_flavor`."
    )


def save_model(model: object) -> SavedModel:
    """Save a fitted model through its flavor, checking the file names it wrote."""
    saved = flavor_for(model).save(model)
    check_file_names(saved.files, saved.flavor)
    return saved


def load_model(flavor: str, files: Mapping[str, bytes], meta: Mapping[str, Any], *,
               trusted: TypeAllowlist | None = None) -> Any:
    """Load a model from the files and metadata its flavor wrote.

    ``trusted`` is the skops type allowlist (``lockgate.artifacts.TypeAllowlist``) for the
    flavor's skops files; default lockgate's own and the declared types.

    Raises:
        FlavorError: unknown flavor, unsafe file names, or files the flavor refuses.
    """
    chosen = flavor_named(flavor)
    check_file_names(files, flavor)
    try:
        return chosen.load(files, meta, trusted)
    except ArtifactError:
        raise
    except Exception as exc:  # a library's parser refusing hostile or corrupt bytes
        raise FlavorError(f"The `{flavor}` model files cannot be loaded: "
                          f"{type(exc).__name__}: {str(exc)[:400]}") from exc


def check_file_names(files: Mapping[str, bytes], flavor: str) -> None:
    """Refuse file names that are not flat, plain names (no folders, no ``..``)."""
    bad = [name for name in files if not _FILE_NAME.match(name) or ".." in name]
    if bad:
        raise FlavorError(f"The `{flavor}` flavor names files {bad}; model files must be "
                          "plain names (letters, digits, `_ . -`) without folders.")


def require_file(files: Mapping[str, bytes], name: Any, flavor: str) -> bytes:
    """The bytes of a file the metadata names, refusing names not among the files."""
    if not isinstance(name, str) or name not in files:
        raise FlavorError(f"The `{flavor}` model metadata names file {name!r}, which is not "
                          f"among its files {sorted(files)}.")
    return files[name]


def describe(model: Any) -> str:
    """``module.Class`` of a model (and of a pipeline's final step)."""
    kind = f"{type(model).__module__}.{type(model).__qualname__}"
    steps = getattr(model, "steps", None)
    if isinstance(steps, list) and steps:
        final = steps[-1][1]
        kind += f" ending in {type(final).__module__}.{type(final).__qualname__}"
    return kind


def module_of(value: Any) -> str:
    """The top-level module a value's type comes from."""
    return type(value).__module__.split(".", 1)[0]
