"""Root cause: ranking by drift weighted by importance, slices, upstream versions."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from lockgate.config import Settings
from lockgate.monitoring import WatchedModel, analyse, feature_importance
from lockgate.monitoring.root_cause import rank_features, slice_drops, upstream_versions
from lockgate.store import Store
from tests.monitoring.monitoring_cases import FEATURES


def test_importance_from_the_estimator_maps_back_to_inputs(model: WatchedModel) -> None:
    importance = feature_importance(model)
    assert set(importance) == set(FEATURES)
    assert abs(sum(importance.values()) - 1) < 1e-9
    assert max(importance, key=importance.get) == "amount"


def test_permutation_importance_from_the_evaluation_wins(model: WatchedModel) -> None:
    import dataclasses

    evaluation = {**model.evaluation, "permutation_importance": {
        "tenure": {"mean": 0.3}, "amount": 0.1, "age": [0.0, 0.0], "country": 0.0}}
    importance = feature_importance(dataclasses.replace(model, evaluation=evaluation))
    assert importance["tenure"] == pytest.approx(0.75)
    assert importance["amount"] == pytest.approx(0.25)


def test_drifted_features_rank_first_then_by_weighted_drift() -> None:
    rows = [{"name": "tenure", "psi": 0.05, "drifted": False},
            {"name": "age", "psi": 0.5, "drifted": True},
            {"name": "country", "psi": 2.0, "drifted": True},
            {"name": "amount", "psi": 0.4, "drifted": True}]
    importance = {"amount": 0.7, "age": 0.2, "country": 0.01, "tenure": 0.09}
    ranked = rank_features(rows, importance)
    assert [c.name for c in ranked] == ["amount", "age", "country", "tenure"]
    assert ranked[0].score == 0.4  # the most important feature keeps its PSI


def test_slices_where_performance_fell_most() -> None:
    rng = np.random.default_rng(0)
    n = 400
    country = rng.choice(["US", "DE"], n)
    truth = rng.choice(["0", "1"], n)
    wrong = (country == "DE") & (rng.random(n) < 0.8)
    prediction = np.where(wrong, np.where(truth == "1", "0", "1"), truth)
    frame = pl.DataFrame({"country": country, "amount": rng.normal(0, 1, n),
                          "prediction": prediction, "label": truth})
    drops = slice_drops(frame, ["country", "amount"], "binary", {"accuracy": 0.9})
    assert drops[0].feature == "country" and drops[0].slice == "= DE"
    assert drops[0].live < 0.3 and drops[0].drop > 0.6
    assert all(d.drop > 0 for d in drops)


def test_upstream_versions_and_summary(settings: Settings, model: WatchedModel) -> None:
    store = Store.open(settings)
    store.add_dataset_version("orders", version=1, rows_ingested=100, rows_accepted=100,
                              validation_status="passed")
    store.add_dataset_version("orders", version=7, rows_ingested=1000, rows_accepted=880,
                              rows_quarantined=120, validation_status="passed",
                              checks={"range:amount": {"ok": True}, "schema": {"ok": False}},
                              details={"reasons": {"range:amount": 120}})
    upstream = upstream_versions(store, model.lineage)
    assert [u.ref for u in upstream] == ["orders@v1", "orders@v7"]
    assert upstream[0].trained_on and upstream[1].quarantined_share == 0.12
    assert upstream[1].failed_checks == ["schema"]
    cause = analyse(model, [{"name": "amount", "psi": 0.41, "drifted": True},
                            {"name": "tenure", "psi": 0.01, "drifted": False}], store=store)
    assert cause.summary.startswith(
        "amount drifted (PSI 0.41, importance ")
    assert "since dataset orders v7, which quarantined 12% of rows for range:amount" \
        in cause.summary


def test_summary_without_quarantine_names_the_training_data(settings: Settings,
                                                           model: WatchedModel) -> None:
    store = Store.open(settings)
    store.add_dataset_version("orders", version=1, rows_ingested=100, rows_accepted=100,
                              validation_status="passed")
    cause = analyse(model, [{"name": "age", "psi": 0.3, "drifted": True}], store=store)
    assert "age drifted (PSI 0.30" in cause.summary
    assert "against the training data orders v1" in cause.summary
    none = analyse(model, [{"name": "age", "psi": 0.01, "drifted": False}], store=store)
    assert none.summary.startswith("no input feature drifted")


def test_summary_gives_row_counts_so_a_tiny_batch_is_not_a_crisis(settings: Settings,
                                                                   model: WatchedModel) -> None:
    store = Store.open(settings)
    store.add_dataset_version("orders", version=1, rows_ingested=1000, rows_accepted=1000,
                              validation_status="passed")
    store.add_dataset_version("orders", version=6, rows_ingested=3, rows_accepted=2,
                              rows_quarantined=1, validation_status="passed",
                              details={"reasons": {"range:amount": 1}})
    cause = analyse(model, [{"name": "amount", "psi": 0.41, "drifted": True}], store=store)
    assert ("since dataset orders v6, which quarantined 33% of rows for range:amount "
            "(1 of 3 rows; 1 of 1,003 rows (0.1%) across v1-v6)") in cause.summary


def _hgb_model(settings: Settings) -> WatchedModel:
    """A model as the quickstart's retraining makes it: trained on an ingested table
    without charts (so its evaluation has no permutation importance) by an estimator with
    neither ``feature_importances_`` nor ``coef_``, registered like any package."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from lockgate.data import FrameSource, ingest
    from lockgate.modeling import TrainConfig, train
    from lockgate.monitoring import watch
    from lockgate.quality import profile
    from lockgate.registry import Registry
    from tests.monitoring.monitoring_cases import CONTRACT, make_frame

    frame = make_frame(1500, seed=3).with_columns(pl.col("age").cast(pl.Int64))
    ingest(FrameSource(frame), "orders", CONTRACT, settings=settings)
    result = train("orders", HistGradientBoostingClassifier(max_iter=40, random_state=0),
                   settings=settings, config=TrainConfig(
                       n_splits=3, inner_splits=2, charts=False, naive=(), bootstrap=20))
    assert not result.evaluation.feature_importance  # the training computed none
    registry = Registry(Store.open(settings), settings)
    registry.register("churn", result.run_id, contract=CONTRACT,
                      reference_profile=profile(frame, contract=CONTRACT).to_dict())
    return watch("churn@1", settings)


def test_a_model_trained_without_importance_gets_it_in_its_package(
        settings: Settings) -> None:
    model = _hgb_model(settings)
    importance = feature_importance(model)
    assert max(importance, key=importance.get) == "amount", importance
    assert importance["amount"] > 3 * importance["tenure"], importance
    # tenure moved more, but amount is what the model reads: amount is the cause
    drift = [{"name": "tenure", "psi": 0.6, "drifted": True},
             {"name": "amount", "psi": 0.3, "drifted": True},
             {"name": "age", "psi": 0.01, "drifted": False},
             {"name": "country", "psi": 0.0, "drifted": False}]
    cause = analyse(model, drift, store=Store.open(settings))
    assert [f.name for f in cause.features[:2]] == ["amount", "tenure"]
    assert cause.importance == "permutation" and "unweighted" not in cause.summary


def test_a_root_cause_without_any_importance_says_it_is_unweighted(
        settings: Settings, model: WatchedModel) -> None:
    import dataclasses

    from sklearn.ensemble import HistGradientBoostingClassifier

    from tests.monitoring.monitoring_cases import make_frame

    frame = make_frame(500, seed=4)
    bare = HistGradientBoostingClassifier(max_iter=10).fit(
        frame.select("amount", "age", "tenure").to_pandas(), frame["churned"].to_numpy())
    unknown = dataclasses.replace(model, pipeline=bare, evaluation={"problem_type": "binary"})
    drift = [{"name": "tenure", "psi": 0.6, "drifted": True},
             {"name": "amount", "psi": 0.3, "drifted": True}]
    cause = analyse(unknown, drift, store=Store.open(settings))
    assert cause.importance == "none"
    assert "Feature importance is unknown" in cause.summary
    assert "ranked by drift alone (unweighted)" in cause.summary
    assert "importance 25%" not in cause.summary  # equal weights are not a finding
    assert cause.to_dict()["importance"] == "none"
