"""Every package registered with holdout rows carries the profile of the model's own
predictions on them: the reference monitoring measures prediction drift against."""

from __future__ import annotations

import polars as pl
import pytest
from lockgate_model_cases import registered

from lockgate.config import Settings
from lockgate.monitoring import watch
from lockgate.quality import Profile


def test_a_registered_package_carries_its_holdout_prediction_profile(
        settings: Settings) -> None:
    registry, trained = registered(settings)
    package = registry.load(registry.get("churn", 1))
    found = package.prediction_profile()
    assert found is not None and "prediction_profile.json" in package.manifest["files"]
    reference = Profile.from_dict(found)
    assert reference.rows == trained[0].holdout.height
    assert set(reference.columns) == {"prediction", "probability"}
    proba = package.pipeline.predict_proba(
        trained[0].holdout.select(package.feature_columns).to_pandas())[:, 1]
    assert abs(reference["probability"].mean - float(pl.Series(proba).mean())) < 1e-9
    assert watch("churn@1", settings).prediction_profile == found


def test_a_package_without_holdout_has_no_prediction_profile(settings: Settings) -> None:
    from lockgate_model_cases import CONTRACT, PROFILE, make_frame, train_run

    from lockgate.registry import Registry
    from lockgate.store import Store

    registry = Registry(Store.open(settings), settings)
    run = train_run(settings, make_frame(), name="bare")
    registry.register("bare", run.run_id, contract=CONTRACT, reference_profile=PROFILE,
                      holdout=None)
    assert registry.load(registry.get("bare", 1)).prediction_profile() is None


@pytest.mark.parametrize("estimator", [
    "HistGradientBoostingClassifier", "RandomForestClassifier", "LogisticRegression",
    "DecisionTreeClassifier", "SVC"])
def test_labels_from_one_probability_call_equal_predict(estimator: str) -> None:
    """Batch scoring asks the model once (predict_proba) where that is exact, and
    the labels are still exactly what ``predict`` says, ties at 0.5 included."""
    import numpy as np
    import polars as pl
    from sklearn import ensemble, linear_model, svm, tree
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from lockgate.registry.prediction_profile import prediction_frame

    kinds = {"HistGradientBoostingClassifier": ensemble.HistGradientBoostingClassifier(
        max_iter=20), "RandomForestClassifier": ensemble.RandomForestClassifier(
        n_estimators=4, random_state=0), "LogisticRegression": linear_model.LogisticRegression(),
        "DecisionTreeClassifier": tree.DecisionTreeClassifier(max_depth=2),
        "SVC": svm.SVC(probability=True, random_state=0)}
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = np.where(x[:, 0] + rng.normal(0, 1, 400) > 0, "yes", "no")
    frame = pl.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2]})
    pipeline = make_pipeline(StandardScaler(), kinds[estimator]).fit(frame.to_pandas(), y)
    out = prediction_frame(pipeline, frame, ["a", "b", "c"], "binary")
    assert out["prediction"].to_list() == pipeline.predict(frame.to_pandas()).tolist()
