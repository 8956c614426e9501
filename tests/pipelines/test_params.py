"""Parameters are validated against the step signatures, with close matches."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.pipelines import ParamsError, Pipeline, node, step
from lockgate.pipelines.params import (
    apply_overrides,
    flatten,
    load_params_file,
    resolve_params,
    unflatten,
)


@step
def fit(train: list, max_depth: int = 3, learning_rate: float = 0.1, name: str = "m") -> dict:
    return {}


@step
def load(path: str) -> list:
    return []


PIPE = Pipeline("p", [node(load, outputs="raw"), node(fit, inputs="raw", outputs="model")])


def test_defaults_are_filled_and_values_recorded_flat() -> None:
    resolved = resolve_params(PIPE, {"load": {"path": "a.csv"}, "fit": {"max_depth": 6,
                                                                          "learning_rate": 1}})
    assert resolved["fit"] == {"max_depth": 6, "learning_rate": 1.0, "name": "m"}
    flat = flatten(resolved)
    assert flat["fit.max_depth"] == 6 and flat["load.path"] == "a.csv"
    assert unflatten(flat) == resolved


def test_misspelt_names_missing_and_wrong_types_are_one_error() -> None:
    with pytest.raises(ParamsError) as info:
        resolve_params(PIPE, {"fitt": {}, "fit": {"max_dept": 6, "name": 3, "train": []}})
    message = str(info.value)
    assert "5 problem(s) with the parameters of pipeline `p`" in message
    assert "no step `fitt` in pipeline `p`. Did you mean `fit`?" in message
    assert "step `fit` has no parameter `max_dept`. Did you mean `max_depth`?" in message
    assert "`fit.name` must be str (from the signature), got 3 (int)" in message
    assert "`fit.train` is wired to dataset `raw`; it cannot also be a parameter" in message
    assert "step `load` needs parameter `path`: set it in params.yaml under `load:` or with " \
           "`--set load.path=...`" in message


def test_file_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("fit:\n  max_depth: 4\nload:\n  path: x.csv\n")
    values = apply_overrides(load_params_file(path), ["fit.max_depth=6", "fit.name=deep"])
    assert values == {"fit": {"max_depth": 6, "name": "deep"}, "load": {"path": "x.csv"}}
    with pytest.raises(ParamsError, match=r"Override `max_depth=6` must look like "
                                          r"`step.argument=value`"):
        apply_overrides({}, ["max_depth=6"])
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ParamsError, match="must map step names to their arguments, found list"):
        load_params_file(path)
    with pytest.raises(ParamsError, match="does not exist"):
        load_params_file(tmp_path / "missing.yaml")
