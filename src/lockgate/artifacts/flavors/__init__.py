"""Model flavors: fitted models saved to safe, code-free formats and loaded back.

Built in: ``sklearn`` (skops), ``lightgbm`` (native text), ``xgboost`` (native JSON),
``onnx`` (onnxruntime). Importing this package registers them, and the ``model``
materializer that stores a flavored model as one artifact.
"""

from lockgate.artifacts.flavors import lightgbm as _lightgbm
from lockgate.artifacts.flavors import onnx as _onnx
from lockgate.artifacts.flavors import sklearn as _sklearn
from lockgate.artifacts.flavors import xgboost as _xgboost
from lockgate.artifacts.flavors.bundle import pack, unpack
from lockgate.artifacts.flavors.flavor import (
    Flavor,
    FlavorError,
    SavedModel,
    flavor_for,
    flavor_named,
    flavor_names,
    load_model,
    register_flavor,
    save_model,
)
from lockgate.artifacts.flavors.onnx_model import OnnxModel
from lockgate.artifacts.trusted_types import declare_trusted_types

for _module in (_sklearn, _lightgbm, _xgboost, _onnx):
    register_flavor(_module.FLAVOR)
    if _module.TRUSTED_TYPES:  # the allowlist (lockgate.artifacts.trusted_types) takes them
        declare_trusted_types(_module.__name__, _module.TRUSTED_TYPES)

#: skops types each built-in flavor adds to the trusted list (all empty: the boosters
#: and ONNX load from native, code-free files, and their preprocessing is scikit-learn).
TRUSTED_TYPES = {m.NAME: m.TRUSTED_TYPES for m in (_sklearn, _lightgbm, _xgboost, _onnx)}

__all__ = [
    "TRUSTED_TYPES",
    "Flavor",
    "FlavorError",
    "OnnxModel",
    "SavedModel",
    "flavor_for",
    "flavor_named",
    "flavor_names",
    "load_model",
    "pack",
    "register_flavor",
    "save_model",
    "unpack",
]
