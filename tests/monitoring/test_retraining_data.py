"""Retraining on new evidence: labeled predictions are training rows (the log carries
the contract's key and event time), combined with the champion's training version, the
newest labels held back for the replay, and an optional window of event time."""

from __future__ import annotations

import datetime as dt
import uuid

import polars as pl
import pytest

from lockgate.config import Settings
from lockgate.data import Contract, FrameSource, ingest
from lockgate.monitoring import WatchedModel
from lockgate.monitoring.labeled_table import update_labeled
from lockgate.monitoring.retraining_data import (
    RetrainingDataError,
    replay_rows,
    retraining_data,
)
from lockgate.serving import feedback_path, predictions_path
from lockgate.serving.prediction_log import TIMESTAMP, context_columns
from tests.monitoring.monitoring_cases import CONTRACT, FEATURES, make_frame

_SPEC = CONTRACT.to_dict()
TIMED = Contract.from_dict({**_SPEC, "table": "timed_orders", "event_time": "ordered_at",
                            "columns": [*_SPEC["columns"], {"name": "ordered_at",
                                        "type": "datetime", "nullable": False}]})
START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def _timed(frame: pl.DataFrame, first_id: int, days: int) -> pl.DataFrame:
    return frame.with_columns(
        pl.Series("order_id", range(first_id, first_id + frame.height), pl.Int64),
        pl.Series("ordered_at", [START + dt.timedelta(days=days * i / frame.height)
                                 for i in range(frame.height)]).cast(TIMESTAMP),
        pl.col("age").cast(pl.Int64))


@pytest.fixture
def timed(settings: Settings, model: WatchedModel) -> WatchedModel:
    """The model trained on an ingested, time-stamped table (v0: 400 rows over 100 days)."""
    ingest(FrameSource(_timed(make_frame(400, seed=1), 0, 100)), "timed_orders",
           TIMED, settings=settings)
    return WatchedModel(**{**{f: getattr(model, f) for f in WatchedModel.__dataclass_fields__},
                           "contract": TIMED,
                           "lineage": {"table": "timed_orders", "dataset_version": 0}})


def _log_and_label(settings: Settings, model: WatchedModel, frame: pl.DataFrame,
                   keyed: bool = True) -> None:
    """Predictions as the server logs them (with the context columns when the request
    sent them), then their labels."""
    n = frame.height
    stamps = [START + dt.timedelta(days=200, seconds=i) for i in range(n)]
    log = frame.select(*FEATURES, *(context_columns(TIMED, FEATURES) if keyed else ())
                       ).with_columns(
        pl.Series("request_id", [uuid.uuid4().hex for _ in range(n)]),
        pl.Series("timestamp", stamps).cast(TIMESTAMP), pl.lit(model.name).alias("model_name"),
        pl.lit(1, pl.Int64).alias("model_version"), pl.lit("0").alias("prediction"))
    path = predictions_path(settings, model.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    log.write_delta(str(path), mode="append", delta_write_options={"schema_mode": "merge"})
    feedback = pl.DataFrame({"request_id": log["request_id"],
                             "timestamp": log["timestamp"] + dt.timedelta(minutes=5),
                             "label": frame["churned"]})
    feedback_path(settings, model.name).parent.mkdir(parents=True, exist_ok=True)
    feedback.write_delta(str(feedback_path(settings, model.name)), mode="append")


def test_labeled_rows_keep_the_key_and_event_time_and_join_the_training_rows(
        settings: Settings, timed: WatchedModel) -> None:
    new = _timed(make_frame(100, seed=5, shift=1.0), 10_000, 30).with_columns(
        pl.col("ordered_at") + dt.timedelta(days=120))
    _log_and_label(settings, timed, new)
    update = update_labeled(timed, settings=settings)
    assert update.rows_landed == 100
    data = retraining_data(TIMED, "timed_orders", 0, timed.name, settings=settings,
                           replay_share=0.3)
    assert data.frame.height == 400 + 70  # the newest 30 labels are held back
    assert set(data.frame.columns) == {"order_id", *FEATURES, "churned", "ordered_at"}
    assert data.frame["ordered_at"].null_count() == 0
    assert data.frame["order_id"].null_count() == 0
    labeled = data.dataset()["labeled"]
    assert (labeled["rows"], labeled["replay_rows"], labeled["version"]) == (70, 30, 0)
    held = replay_rows(settings, timed.name, labeled)
    assert held is not None and held.height == 30
    trained_ids = set(data.frame["order_id"].to_list())
    assert not trained_ids & set(held["order_id"].to_list())  # the replay is unseen
    windowed = retraining_data(TIMED, "timed_orders", 0, timed.name, settings=settings,
                               window="60d")
    assert windowed.skipped["outside_window"] > 0
    assert windowed.frame["ordered_at"].min() >= (
        windowed.frame["ordered_at"].max() - dt.timedelta(days=60))


def test_labeled_rows_without_the_key_are_counted_not_trained_on(
        settings: Settings, timed: WatchedModel) -> None:
    """Predictions logged without the key (an older client) land as labeled rows but
    cannot be split by the contract: counted, not silently trained on."""
    new = _timed(make_frame(40, seed=6), 20_000, 10)
    _log_and_label(settings, timed, new, keyed=False)
    update_labeled(timed, settings=settings)
    data = retraining_data(TIMED, "timed_orders", 0, timed.name, settings=settings,
                           replay_share=0.0)
    assert data.skipped["labeled_without_keys"] == 40
    assert data.frame.height == 400


def test_a_bad_replay_share_is_refused(settings: Settings, timed: WatchedModel) -> None:
    with pytest.raises(RetrainingDataError, match=r"replay_share=1\.5"):
        retraining_data(TIMED, "timed_orders", 0, timed.name, settings=settings,
                        replay_share=1.5)


def test_a_customer_in_the_replay_is_never_in_training_nor_in_the_holdout(
        settings: Settings, timed: WatchedModel) -> None:
    """Held back by customer, not by prediction time: a customer whose newest request is
    replayed has all their labeled rows replayed, and the holdout lookup by key never
    picks up a replay row (here customers 0-9 of the training table come back too)."""
    from lockgate.registry.holdout import holdout_from_data

    by_customer = Contract.from_dict({**TIMED.to_dict(), "entity": "order_id"})
    first = _timed(make_frame(70, seed=7), 30_000, 30).with_columns(
        pl.col("ordered_at") + dt.timedelta(days=120))
    again = pl.concat([first.head(30), _timed(make_frame(10, seed=8), 0, 5)]).with_columns(
        pl.col("ordered_at") + dt.timedelta(days=10))  # the same customers, later
    _log_and_label(settings, timed, pl.concat([first, again]))  # `again` is the newest
    update_labeled(timed, settings=settings)
    data = retraining_data(by_customer, "timed_orders", 0, timed.name, settings=settings,
                           replay_share=0.3)
    labeled = data.dataset()["labeled"]
    held = replay_rows(settings, timed.name, labeled)
    assert held is not None and held.height >= 33
    trained = data.frame.filter(pl.col("order_id") >= 30_000)["order_id"].to_list()
    assert not set(trained) & set(held["order_id"].to_list())
    assert labeled["replay_rows"] == held.height
    evaluation = {"dataset": data.dataset(),
                  "holdout": {"key": "order_id", "ids": list(range(10))}}
    holdout = holdout_from_data(evaluation, by_customer, settings)
    assert holdout is not None and holdout.height == 10  # the table's rows, no replay row
