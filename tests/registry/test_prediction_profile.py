"""Every package registered with holdout rows carries the profile of the model's own
predictions on them: the reference monitoring measures prediction drift against."""

from __future__ import annotations

import polars as pl
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
