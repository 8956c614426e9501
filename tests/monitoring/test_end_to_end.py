"""Done-when of the monitoring issue, against the real thing: a model registered and
served over HTTP on 127.0.0.1 (prediction and feedback logs written by the server),
clean traffic (no alert), drifted traffic (an alert, the drifted features ranked
first), degraded feedback (a performance alert), and the retraining it triggers going
through the promotion gates, never straight to production."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import httpx
import polars as pl

from lockgate.config import Settings
from lockgate.monitoring import MemorySink, incidents, parse_config, run_monitor, watch
from lockgate.quality import profile
from lockgate.registry import Registry, load_gate_config
from lockgate.serving import BackgroundServer, ServeConfig
from lockgate.store import Store
from tests.monitoring.monitoring_cases import (
    CONTRACT,
    FEATURES,
    PIPELINE_FILE,
    dataset_versions,
    make_frame,
    train_run,
)


def _send(client: httpx.Client, frame: pl.DataFrame) -> list[dict[str, Any]]:
    out = []
    for chunk in frame.select(FEATURES).iter_slices(100):
        response = client.post("/predict", json={"records": chunk.to_dicts()})
        assert response.status_code == 200, response.text
        out += response.json()["predictions"]
    return out


def _wait_logged(settings: Settings, name: str, table: str, rows: int) -> None:
    path = settings.resolved_data_root / table / name
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if (path / "_delta_log").is_dir() and pl.read_delta(str(path)).height >= rows:
            return
        time.sleep(0.1)
    raise AssertionError(f"{rows} rows never reached {path}")


def _config(window: float, sink: MemorySink, retrain: dict[str, Any]):  # type: ignore[no-untyped-def]
    config = parse_config({
        "bucket": "1s", "window": f"{int(window)}s", "baseline": f"{int(window)}s",
        "rules": [
            {"name": "input-drift", "measure": "drift.share_drifted", "threshold": 0.3,
             "min_samples": 200},
            {"name": "accuracy", "measure": "performance.degradation", "threshold": 0.15,
             "min_samples": 100, "retrain": retrain},
        ]})
    return dataclasses.replace(config, sinks=(sink,))


def _sleep_to_next_second() -> float:
    boundary = math.floor(time.time()) + 1.0
    time.sleep(boundary - time.time() + 0.01)
    return boundary


def test_clean_drift_feedback_and_gated_retraining(settings: Settings) -> None:
    store = Store.open(settings)
    v1_id, v2_id = dataset_versions(store)
    registry = Registry(store, settings)
    train_frame = make_frame(3500, seed=11)
    mv = registry.register(
        "churn", train_run(settings, train_frame, v1_id, 1), contract=CONTRACT,
        reference_profile=profile(train_frame.head(3000),
                                  contract=CONTRACT).to_dict(),
        holdout=train_frame.tail(500))
    registry.transition("churn", mv.version, "production", action="promote",
                        reason="test setup: the champion being watched")
    model = watch("churn@production", settings)
    sink = MemorySink()
    pipelines_file = settings.home.parent / "retrain_pipelines.py"
    pipelines_file.write_text(PIPELINE_FILE)
    retrain = {"pipeline": f"{pipelines_file}:retrain",
               "params": {"fit": {"dataset_version_id": v2_id}}}

    server = BackgroundServer(ServeConfig("churn@production", port=0, log_flush_seconds=0.2),
                              settings).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            clean_start = _sleep_to_next_second()
            _send(client, make_frame(400, seed=21))
            _wait_logged(settings, "churn", "_predictions", 400)
            drift_start = _sleep_to_next_second()
            window = drift_start - clean_start
            config = _config(window, sink, retrain)

            clean = run_monitor(model, settings=settings, config=config, end=drift_start - 0.5)
            assert clean.windows[window].n_predictions == 400
            assert clean.alerts == [] and sink.events == []

            drifted = _send(client, make_frame(400, seed=22, shift=2.0))
            _wait_logged(settings, "churn", "_predictions", 800)
            end = time.time()
            window_config = _config(math.ceil(end) - drift_start, sink, retrain)
            span = window_config.window_seconds
            second = run_monitor(model, settings=settings, config=window_config, end=end)
            assert second.windows[span].n_predictions == 400
            assert [r.rule.name for r in second.alerts] == ["input-drift"]
            cause = second.alerts[0].incident.root_cause
            ranked = [f["name"] for f in cause["features"]]
            assert set(ranked[:2]) == {"amount", "age"}
            assert all(f["drifted"] for f in cause["features"][:2])
            assert not any(f["drifted"] for f in cause["features"][2:])
            assert "amount drifted" in cause["summary"]
            assert "since dataset orders v2, which quarantined 12% of rows for range:amount" \
                in cause["summary"]
            assert [u["ref"] for u in cause["upstream"]] == ["orders@v1", "orders@v2"]
            assert second.alerts[0].retraining is None  # the drift rule does not retrain

            # ground truth arrives, and the model was wrong on most of it
            flipped = [{"request_id": p["request_id"],
                        "label": "0" if p["prediction"] == "1" else "1"} for p in drifted]
            for i in range(0, len(flipped), 100):
                response = client.post("/feedback", json={"items": flipped[i:i + 100]})
                assert response.status_code == 200, response.text
            _wait_logged(settings, "churn", "_feedback", 400)
            third = run_monitor(model, settings=settings, config=window_config, end=end,
                                gate_config=load_gate_config(infra_latency_ms=5000.0))
    finally:
        server.stop()

    window_result = third.windows[span]
    assert window_result.n_labeled == 400
    assert window_result.measures["performance.accuracy"] == 0.0
    assert window_result.performance["delay_p50_s"] > 0
    assert [r.rule.name for r in third.alerts] == ["accuracy"]
    drift_report = next(r for r in third.rules if r.rule.name == "input-drift")
    assert drift_report.action == "continued"  # one incident, one alert
    assert [(e.rule, e.kind) for e in sink.events] == [("input-drift", "alert"),
                                                      ("accuracy", "alert")]
    retraining = third.alerts[0].retraining
    assert retraining["pipeline"] == f"{pipelines_file}:retrain"
    assert retraining["pipeline_run_id"] != retraining["training_run_id"]  # a step run
    assert retraining["decision"]["basis"] == "performance"
    assert retraining["triggered"] and retraining["error"] is None, retraining
    assert retraining["gated"]
    assert {g["name"] for g in retraining["gates"]} >= {"data_validated", "leak_free",
                                                        "champion_challenger", "infra"}
    new = registry.get("churn", retraining["model_version"])
    assert registry.alias_version("churn", "production") == mv.version  # never straight there
    assert new.stage in ("staging", "candidate")
    assert new.stage == ("staging" if retraining["promoted_to"] == "staging" else "candidate")
    stored = incidents(store, "churn")
    assert {i.rule: i.status for i in stored} == {"input-drift": "open", "accuracy": "open"}
    assert stored[0].retraining["model_version"] == new.version
