"""Model flavors: every flavor's loaded model predicts exactly as the fitted one did,
through files that are never pickle; unknown models are refused with the list."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMClassifier, LGBMRegressor
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from xgboost import XGBClassifier, XGBRegressor

from lockgate.artifacts import (
    FlavorError,
    OnnxModel,
    dumps,
    flavor_for,
    flavor_names,
    load_model,
    loads,
    save_model,
)
from lockgate.artifacts.flavors import unpack


def _data(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                      "plan": rng.choice(["basic", "pro", "team"], n)})
    y = (x["a"] + 0.5 * x["b"] + (x["plan"] == "pro") + rng.normal(0, 0.3, n) > 0.5)
    return x, y.to_numpy()


def _pipeline(final: object) -> Pipeline:
    features = ColumnTransformer([("num", StandardScaler(), ["a", "b"]),
                                  ("cat", OneHotEncoder(sparse_output=False), ["plan"])])
    return Pipeline([("features", features), ("model", final)])


def _round_trip(model: object) -> object:
    data, materializer = dumps(model)
    assert materializer.name == "model"
    return loads(data, "model")


CLASSIFIERS = {
    "lightgbm": lambda: LGBMClassifier(n_estimators=30, num_leaves=7, verbose=-1),
    "xgboost": lambda: XGBClassifier(n_estimators=30, max_depth=3),
}


@pytest.mark.parametrize("library", sorted(CLASSIFIERS))
@pytest.mark.parametrize("labels", ["bool", "str", "multiclass"])
def test_booster_pipeline_predicts_as_fitted(library: str, labels: str) -> None:
    x, y = _data()
    if labels == "str":
        y = np.where(y, "churned", "stayed")
    elif labels == "multiclass":
        y = (x["a"].to_numpy() > 0).astype(int) + (x["plan"] == "team").to_numpy().astype(int)
    if library == "xgboost" and labels != "multiclass":
        y = (y == y[0]).astype(int)  # XGBClassifier takes 0..k-1 labels only
    fitted = _pipeline(CLASSIFIERS[library]()).fit(x, y)
    loaded = _round_trip(fitted)
    assert flavor_for(fitted).name == library
    np.testing.assert_allclose(loaded.predict_proba(x), fitted.predict_proba(x), atol=1e-6)
    assert (loaded.predict(x) == fitted.predict(x)).all()
    assert loaded.classes_.tolist() == fitted.classes_.tolist()


@pytest.mark.parametrize("regressor", [LGBMRegressor(n_estimators=20, verbose=-1),
                                       XGBRegressor(n_estimators=20, max_depth=3)],
                         ids=["lightgbm", "xgboost"])
def test_bare_booster_regressor_predicts_as_fitted(regressor: object) -> None:
    x, _ = _data()
    target = 2 * x["a"] - x["b"]
    fitted = regressor.fit(x[["a", "b"]], target)
    saved = save_model(fitted)
    assert set(saved.files) == {saved.meta["booster_file"]}  # no preprocessing file
    loaded = load_model(saved.flavor, saved.files, saved.meta)
    np.testing.assert_allclose(loaded.predict(x[["a", "b"]]), fitted.predict(x[["a", "b"]]),
                               rtol=1e-6)


def test_booster_files_are_native_text_and_json_never_pickle() -> None:
    x, y = _data()
    for library, make in CLASSIFIERS.items():
        saved = save_model(_pipeline(make()).fit(x, y.astype(int)))
        booster = saved.files[saved.meta["booster_file"]]
        if library == "lightgbm":
            assert booster.startswith(b"tree\nversion=")
        else:
            assert booster.startswith(b"{") and b'"learner"' in booster
        assert saved.files["preprocess.skops"][:2] == b"PK"  # skops is a zip
        assert not any(data[:1] == b"\x80" for data in saved.files.values())  # pickle


def test_early_stopping_predicts_with_the_best_iteration() -> None:
    x, y = _data(600)
    y = y.astype(int)
    train, valid = slice(0, 400), slice(400, 600)
    for model in (XGBClassifier(n_estimators=300, learning_rate=0.3, early_stopping_rounds=5),
                  LGBMClassifier(n_estimators=300, learning_rate=0.3, verbose=-1)):
        numeric = x[["a", "b"]]
        kwargs = {"eval_set": [(numeric[valid], y[valid])]}
        if isinstance(model, XGBClassifier):
            kwargs["verbose"] = False
        else:
            import lightgbm

            kwargs["callbacks"] = [lightgbm.early_stopping(5, verbose=False)]
        model.fit(numeric[train], y[train], **kwargs)
        loaded = _round_trip(model)
        np.testing.assert_allclose(loaded.predict_proba(numeric), model.predict_proba(numeric),
                                   atol=1e-6)


def test_onnx_model_predicts_as_the_sklearn_model_it_came_from() -> None:
    x, y = _data()
    numeric = x[["a", "b"]]
    classifier = LogisticRegression().fit(numeric, y)
    loaded = _round_trip(OnnxModel.from_sklearn(classifier, numeric))
    np.testing.assert_allclose(loaded.predict_proba(numeric), classifier.predict_proba(numeric),
                               atol=1e-5)
    assert (loaded.predict(numeric) == classifier.predict(numeric)).all()
    regressor = LinearRegression().fit(numeric, x["a"] * 3)
    loaded = _round_trip(OnnxModel.from_sklearn(regressor, numeric))
    np.testing.assert_allclose(loaded.predict(numeric), regressor.predict(numeric), rtol=1e-4)


def test_onnx_pipeline_takes_one_input_per_column() -> None:
    x, y = _data()
    fitted = _pipeline(LogisticRegression()).fit(x, y)
    loaded = _round_trip(OnnxModel.from_sklearn(fitted, x))
    np.testing.assert_allclose(loaded.predict_proba(x), fitted.predict_proba(x), atol=1e-5)


def test_scikit_learn_models_keep_the_skops_materializer() -> None:
    x, y = _data()
    fitted = _pipeline(RandomForestClassifier(n_estimators=5, random_state=0)).fit(x, y)
    assert dumps(fitted)[1].name == "skops"
    assert flavor_for(fitted).name == "sklearn"


class _HomeMadeModel:
    def fit(self, x: object, y: object) -> _HomeMadeModel:
        return self

    def predict(self, x: object) -> list[int]:
        return [0]

    def get_params(self, deep: bool = True) -> dict[str, object]:
        return {}


def test_unknown_model_type_is_refused_with_the_list_of_flavors() -> None:
    with pytest.raises(FlavorError, match=r"No model flavor handles a tests\.artifacts\."
                       r"test_flavors\._HomeMadeModel\. Flavors: sklearn, lightgbm, xgboost, "
                       r"onnx"):
        save_model(_HomeMadeModel())
    wrapped = Pipeline([("scale", StandardScaler()), ("model", _HomeMadeModel())])
    with pytest.raises(FlavorError, match=r"ending in tests\.artifacts\.test_flavors\."
                       r"_HomeMadeModel"):
        save_model(wrapped)
    assert flavor_names()[:4] == ["sklearn", "lightgbm", "xgboost", "onnx"]


def test_custom_objective_is_refused_at_save() -> None:
    x, y = _data()

    def objective(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = 1 / (1 + np.exp(-y_pred))
        return p - y_true, p * (1 - p)

    model = LGBMRegressor(objective=objective, n_estimators=5, verbose=-1)
    model.fit(x[["a", "b"]], y.astype(float))
    with pytest.raises(FlavorError, match="custom \\(Python\\) objective cannot be saved"):
        save_model(model)


def test_bundle_is_deterministic_and_refuses_links() -> None:
    x, y = _data()
    fitted = CLASSIFIERS["lightgbm"]().fit(x[["a", "b"]], y)
    assert dumps(fitted)[0] == dumps(fitted)[0]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        link = tarfile.TarInfo("booster.lgb.txt")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    with pytest.raises(FlavorError, match=r"`booster\.lgb\.txt` is not a plain file"):
        unpack(buffer.getvalue())
