"""Replay: champion and challenger on the same labeled live rows, paired, with a CI."""

from __future__ import annotations

from sklearn.dummy import DummyClassifier

from lockgate.config import Settings
from lockgate.monitoring import WatchedModel
from lockgate.monitoring.labeled_table import update_labeled
from lockgate.monitoring.replay import replay
from tests.monitoring.monitoring_cases import BASE, FEATURES, make_frame


def test_a_challenger_worse_on_live_traffic_is_caught(settings: Settings, model: WatchedModel,
                                                       log_predictions, send_feedback) -> None:
    frame = make_frame(400, seed=12)
    logged = log_predictions(model, frame, start=BASE, seconds=60)
    send_feedback(model, logged, logged["truth"].to_list())
    assert replay(model, model.pipeline, settings=settings) is None  # no labeled table yet
    update_labeled(model, settings=settings)
    same = replay(model, model.pipeline, settings=settings)
    assert same is not None and same.rows == 400
    assert same.difference == 0 and same.interval == (0.0, 0.0) and not same.worse
    constant = DummyClassifier(strategy="constant", constant="1").fit(
        frame.select(FEATURES).to_pandas(), frame["churned"].to_numpy())
    worse = replay(model, constant, settings=settings)
    assert worse is not None and worse.worse
    assert worse.challenger_accuracy < worse.champion_accuracy
    gate = worse.gate()
    assert gate["name"] == "replay" and not gate["passed"]
    assert gate["reason"].startswith("on 400 labeled live requests accuracy")
