"""The model type allowlist: lockgate's own types load, anything else needs the operator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from lockgate.artifacts import (
    UntrustedTypeError,
    allowlist,
    declare_trusted_types,
    loads,
)
from lockgate.artifacts import trusted_types as tt
from lockgate.config import load_settings
from lockgate.errors import ArtifactError, ConfigError


def double(x: np.ndarray) -> np.ndarray:
    """An operator's own FunctionTransformer helper."""
    return x * 2


def _user_function_model() -> bytes:
    x = np.arange(12, dtype=float).reshape(6, 2)
    return sio.dumps(make_pipeline(FunctionTransformer(double), StandardScaler()).fit(x))


def test_a_user_function_is_refused_naming_the_function_and_the_setting() -> None:
    with pytest.raises(UntrustedTypeError) as caught:
        loads(_user_function_model(), "skops")
    assert caught.value.types == [f"{__name__}.double"]
    assert "trusted_types" in str(caught.value) and "LOCKGATE_TRUSTED_TYPES" in str(caught.value)


@pytest.mark.parametrize("entry", [f"{__name__}.double", f"{__name__}.*"])
def test_the_operator_opens_a_function_by_name_or_module(tmp_path: Path, entry: str) -> None:
    settings = load_settings(home=tmp_path, trusted_types=(entry,))
    model = loads(_user_function_model(), "skops", trusted=allowlist(settings))
    assert model.transform(np.ones((1, 2))).shape == (1, 2)


def test_the_environment_takes_a_comma_separated_list(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCKGATE_TRUSTED_TYPES", f" {__name__}.double , other_module.*")
    settings = load_settings(home=tmp_path)
    assert settings.trusted_types == (f"{__name__}.double", "other_module.*")
    assert allowlist(settings).allows("other_module.thing")


def test_lockgate_yaml_extends_the_allowlist(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "lockgate.yaml").write_text(f"trusted_types:\n  - {__name__}.double\n")
    monkeypatch.chdir(tmp_path)
    assert allowlist(load_settings()).allows(f"{__name__}.double")


def test_a_module_pattern_never_reaches_a_dangerous_submodule(tmp_path: Path) -> None:
    trusted = allowlist(load_settings(home=tmp_path, trusted_types=("mylib.*",)))
    assert trusted.allows("mylib.features.scale")
    assert not trusted.allows("mylibrary.x")  # a prefix of a name is not its module
    assert not trusted.allows("builtins.exec")


@pytest.mark.parametrize("entry", ["exec", "bad name", "mod.*.x", "os.path.join"])
def test_malformed_or_dangerous_entries_are_config_errors(tmp_path: Path, entry: str) -> None:
    with pytest.raises(ConfigError, match=r"trusted_types"):
        load_settings(home=tmp_path, trusted_types=(entry,))


def test_a_module_declares_its_own_types_in_code() -> None:
    assert not allowlist().allows("flavorlib.Booster")
    declare_trusted_types("tests.flavor", ["flavorlib.Booster"])
    try:
        assert allowlist().allows("flavorlib.Booster")
        with pytest.raises(ConfigError, match="patterns are for the operator"):
            declare_trusted_types("tests.flavor", ["flavorlib.*"])
        with pytest.raises(ConfigError, match="can never be trusted"):
            declare_trusted_types("tests.flavor", ["subprocess.Popen"])
    finally:
        tt._DECLARED.pop("tests.flavor", None)


def test_lockgate_trusts_only_container_builtins() -> None:
    assert {n for n in tt.LOCKGATE_TYPES if n.startswith("builtins.")} == {
        "builtins.slice", "builtins.frozenset", "builtins.complex", "builtins.bytes"}
    assert all(not tt.never_trusted(n) for n in tt.LOCKGATE_TYPES)


def test_a_crafted_tree_predictor_is_refused_before_predict() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    x = np.random.default_rng(0).random((200, 3))
    model = HistGradientBoostingClassifier(max_iter=3).fit(x, (x[:, 0] > 0.5).astype(int))
    assert loads(sio.dumps(make_pipeline(StandardScaler(), model)), "skops") is not None
    inner = model._predictors[0][0].nodes
    inner["left"][inner["is_leaf"] == 0] = 10_000_000  # an out-of-bounds read at predict
    with pytest.raises(ArtifactError, match=r"tree 0 of HistGradientBoostingClassifier links"):
        loads(sio.dumps(make_pipeline(StandardScaler(), model)), "skops")
