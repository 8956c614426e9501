"""The ONNX flavor: an :class:`OnnxModel` as its ``.onnx`` file plus its external-data
files, loaded by onnxruntime with external data resolved only among those files."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lockgate.artifacts.flavors.flavor import Flavor, FlavorError, SavedModel, require_file
from lockgate.artifacts.flavors.onnx_model import MODEL_FILE, OnnxModel, inline_external_data

NAME = "onnx"
TRUSTED_TYPES: tuple[str, ...] = ()


def handles(model: Any) -> bool:
    """An :class:`OnnxModel`."""
    return isinstance(model, OnnxModel)


def save(model: Any) -> SavedModel:
    """The graph and its external files; the external references are checked now."""
    inline_external_data(model.model_bytes, model.external)  # refuse unsafe refs at save
    if MODEL_FILE in model.external:
        raise FlavorError(f"An external-data file may not be called `{MODEL_FILE}`.")
    files = {MODEL_FILE: model.model_bytes, **model.external}
    return SavedModel(NAME, files, {"model_file": MODEL_FILE, "classes": model.classes,
                                    "external": sorted(model.external)})


def load(files: Mapping[str, bytes], meta: Mapping[str, Any], trusted: Any = None) -> Any:
    """An OnnxModel whose session is built (and checked) now, not at the first request."""
    data = require_file(files, meta.get("model_file", MODEL_FILE), NAME)
    external = {name: require_file(files, name, NAME) for name in meta.get("external") or []}
    classes = meta.get("classes")
    if classes is not None and not isinstance(classes, list):
        raise FlavorError(f"The onnx metadata's classes must be a list, got {classes!r}.")
    model = OnnxModel(data, classes=classes, external=external)
    model.session()
    return model


FLAVOR = Flavor(NAME, ("onnxruntime", "onnx"), handles, save, load, TRUSTED_TYPES)
