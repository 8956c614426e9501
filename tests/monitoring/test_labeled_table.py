"""Labels become data: predictions joined with their latest label land as a versioned,
validated table with lineage, only new labels per update, bad labels quarantined; and
retraining is started only on data the champion has not seen."""

from __future__ import annotations

import time

import polars as pl

from lockgate.config import Settings
from lockgate.data import read, read_for_training
from lockgate.monitoring import WatchedModel
from lockgate.monitoring.labeled_table import labeled_table_name, update_labeled
from lockgate.monitoring.retraining import (
    RetrainingDecision,
    new_evidence,
    require_new_evidence,
)
from lockgate.store import Store
from tests.monitoring.monitoring_cases import BASE, dataset_versions, make_frame


def test_feedback_becomes_a_validated_labeled_table_version(
        settings: Settings, model: WatchedModel, log_predictions, send_feedback) -> None:
    frame = make_frame(200, seed=3)
    logged = log_predictions(model, frame, start=BASE, seconds=60)
    labels = logged["truth"].to_list()
    labels[0] = "2"  # not a class of the target: the door quarantines it
    send_feedback(model, logged[:150], labels[:150])
    first = update_labeled(model, settings=settings)
    assert (first.table, first.version) == (labeled_table_name(model.name), 0)
    assert (first.rows_landed, first.rows_quarantined) == (149, 1)
    assert first.reasons == {"allowed:churned": 1}
    table = read(first.table, settings=settings)
    assert set(table.columns) >= {"amount", "age", "country", "tenure", "churned",
                                  "request_id", "model_version", "predicted_at",
                                  "labeled_at", "prediction"}
    row = table.filter(pl.col("request_id") == logged["request_id"][1]).row(0, named=True)
    assert row["churned"] == labels[1] and row["model_version"] == 1
    assert read_for_training(first.table, settings=settings).height == 149  # the gate opens
    send_feedback(model, logged[150:], labels[150:])
    second = update_labeled(model, settings=settings)
    assert (second.version, second.rows_landed, second.rows_quarantined) == (1, 50, 0)
    assert update_labeled(model, settings=settings).version is None  # nothing new


def test_no_new_data_refuses_retraining_and_says_why(settings: Settings,
                                                      model: WatchedModel) -> None:
    store = Store.open(settings)
    dataset_versions(store)  # orders v1 (trained on) and v2
    trained_on_v2 = WatchedModel(**{**{f: getattr(model, f) for f in
                                       WatchedModel.__dataclass_fields__},
                                    "lineage": {"table": "orders", "dataset_version": 2}})
    decision = RetrainingDecision(True, "performance", "accuracy fell by 0.3")
    refused = require_new_evidence(trained_on_v2, decision, settings=settings,
                                   registered_at=time.time())
    assert not refused.recommended and refused.basis == "no_new_data"
    assert refused.reason == ("accuracy fell by 0.3; but no new data since orders v2: "
                              "retraining would reproduce the champion")
    found, reason, evidence = new_evidence(model, settings=settings)  # trained on v1
    assert found and evidence["newer_versions"] == ["orders@v2"]
    assert reason == "1 newer validated version(s) of orders (orders@v2)"


def test_labels_landed_after_registration_are_new_evidence(
        settings: Settings, model: WatchedModel, log_predictions, send_feedback) -> None:
    registered = time.time()
    logged = log_predictions(model, make_frame(50, seed=4), start=BASE, seconds=10)
    send_feedback(model, logged, logged["truth"].to_list())
    update_labeled(model, settings=settings)
    found, reason, _ = new_evidence(model, settings=settings, registered_at=registered)
    assert found and reason == f"50 new labeled rows in {labeled_table_name(model.name)}"
    later, _, _ = new_evidence(model, settings=settings, registered_at=time.time() + 1)
    assert not later
