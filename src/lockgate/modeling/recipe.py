"""A training run's recipe: everything ``train`` was called with, as JSON, so the run can
be re-executed (``lockgate reproduce``) from the store alone: the table and its exact
version, the estimator's class and parameters (seeds included), the grid, the config."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping, Sequence
from typing import Any

from lockgate.modeling.errors import RecipeError

RECIPE_VERSION = 1


def training_recipe(*, table: str, version: int, estimator: Any,
                    param_grid: Mapping[str, Sequence[Any]] | None, config: Any,
                    allow_unvalidated: str | None, experiment: str, name: str
                    ) -> dict[str, Any]:
    """The recipe of one ``train`` call; ``{"reproducible": False, "reason": ...}`` when an
    argument has no faithful JSON form (e.g. a distribution object in a random search)."""
    try:
        return {
            "recipe_version": RECIPE_VERSION, "kind": "train", "reproducible": True,
            "table": table, "version": int(version), "estimator": estimator_spec(estimator),
            "param_grid": _plain_grid(param_grid), "config": _config(config),
            "allow_unvalidated": allow_unvalidated, "experiment": experiment, "name": name,
        }
    except RecipeError as exc:
        return {"recipe_version": RECIPE_VERSION, "kind": "train", "reproducible": False,
                "reason": str(exc)}


def estimator_spec(estimator: Any) -> dict[str, Any]:
    """``{"class": "module.Class", "params": {...}}``, nested estimators included."""
    kind = type(estimator)
    params = estimator.get_params(deep=False) if hasattr(estimator, "get_params") else None
    if params is None:
        raise RecipeError(f"{kind.__qualname__} has no get_params(); its parameters cannot "
                          "be recorded.")
    return {"class": f"{kind.__module__}.{kind.__qualname__}",
            "params": {k: _value(k, v) for k, v in sorted(params.items())}}


def build_estimator(spec: Mapping[str, Any]) -> Any:
    """The estimator a spec describes (its class imported by the recorded name).

    Raises:
        RecipeError: the class no longer exists where it was, or refuses the parameters.
    """
    module_name, _, name = str(spec["class"]).rpartition(".")
    try:
        kind = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise RecipeError(f"The estimator class `{spec['class']}` cannot be imported any "
                          f"more: {exc}.") from exc
    params = {k: _rebuild(v) for k, v in dict(spec.get("params") or {}).items()}
    try:
        return kind(**params)
    except TypeError as exc:
        raise RecipeError(f"`{spec['class']}` no longer takes the recorded parameters: "
                          f"{exc}.") from exc


def build_config(values: Mapping[str, Any]) -> Any:
    """A :class:`TrainConfig` from its recorded fields (nested configs and tuples restored)."""
    from lockgate.modeling.training import TrainConfig

    return _dataclass(TrainConfig, values)


def _dataclass(kind: type, values: Mapping[str, Any]) -> Any:
    defaults = kind()
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(kind):
        if f.name not in values:
            continue
        value, default = values[f.name], getattr(defaults, f.name)
        if dataclasses.is_dataclass(default) and isinstance(value, Mapping):
            value = _dataclass(type(default), value)
        elif isinstance(value, list) and isinstance(default, tuple | type(None)):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        kwargs[f.name] = value
    return kind(**kwargs)


def _config(config: Any) -> dict[str, Any]:
    from lockgate.modeling.training import TrainConfig

    config = config or TrainConfig()
    values = {}
    for f in dataclasses.fields(config):
        values[f.name] = _value(f.name, getattr(config, f.name))
    return values


def _plain_grid(grid: Mapping[str, Sequence[Any]] | None) -> dict[str, list[Any]] | None:
    if grid is None:
        return None
    if not isinstance(grid, Mapping):
        raise RecipeError("the param grid is not a mapping of lists")
    return {k: [_value(k, v) for v in values] for k, values in grid.items()}


def _value(key: str, value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "item") and not hasattr(value, "__len__"):
        return value.item()
    if isinstance(value, list | tuple):
        return [_value(key, v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _value(key, v) for k, v in value.items()}
    if hasattr(value, "get_params"):
        return {"__estimator__": estimator_spec(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _value(k, v) for k, v in dataclasses.asdict(value).items()}
    raise RecipeError(f"parameter `{key}` is a {type(value).__name__}, which has no faithful "
                      "JSON form")


def _rebuild(value: Any) -> Any:
    if isinstance(value, dict) and "__estimator__" in value:
        return build_estimator(value["__estimator__"])
    if isinstance(value, list):
        return [_rebuild(v) for v in value]
    return value
