"""Live figures the monitor can be trusted with: per-prediction and per-request latency
from a log where a request's latency is shared by its rows, cost from CPU time, a
latency alert explained by latency, late rows counted in the bucket they arrived in,
and prediction drift measured against the package's own holdout predictions."""

from __future__ import annotations

import dataclasses
import uuid

import numpy as np
import polars as pl

from lockgate.config import Settings
from lockgate.monitoring import (
    MemorySink,
    MonitorConfig,
    WatchedModel,
    measure_window,
    parse_config,
    run_monitor,
    window_span,
)
from lockgate.quality import profile
from lockgate.serving import predictions_path
from lockgate.store import Store
from tests.monitoring.monitoring_cases import BASE, FEATURES, TIMESTAMP, make_frame


def _log(settings: Settings, model: WatchedModel, frame: pl.DataFrame, *, at: float,
         request_rows: int = 1, request_ms: float = 5.0, cpu_ms: float = 0.3,
         arrived: float | None = None) -> None:
    """Append ``frame`` as requests of ``request_rows`` rows, logged as the server does."""
    n = frame.height
    proba = model.pipeline.predict_proba(frame.select(FEATURES).to_pandas())[:, 1]
    base = [uuid.uuid4().hex for _ in range(-(-n // request_rows))]
    ids = [base[i // request_rows] + (f"-{i % request_rows}" if request_rows > 1 else "")
           for i in range(n)]
    stamp = pl.Series([int(at * 1e6)] * n).cast(TIMESTAMP)
    logged = pl.Series([int((arrived or at + 0.5) * 1e6)] * n).cast(TIMESTAMP)
    pl.DataFrame({
        "request_id": ids, "timestamp": stamp, "model_name": [model.name] * n,
        "model_version": pl.Series([1] * n, dtype=pl.Int64),
        "amount": frame["amount"], "age": frame["age"].cast(pl.Int64),
        "country": frame["country"], "tenure": frame["tenure"],
        "prediction": np.where(proba >= 0.5, "1", "0"), "probability": proba,
        "latency_ms": [request_ms / request_rows] * n,
        "request_latency_ms": [request_ms] * n,
        "request_rows": pl.Series([request_rows] * n, dtype=pl.Int64),
        "cpu_ms": [cpu_ms] * n, "batch_id": pl.Series([None] * n, dtype=pl.String),
        "logged_at": logged,
    }).write_delta(str(predictions_path(settings, model.name)), mode="append")


def _config(**rules: dict) -> MonitorConfig:  # type: ignore[type-arg]
    return parse_config({"bucket": "10m", "window": "1h", "rules": [
        {"name": name, **rule} for name, rule in rules.items()]})


def test_a_batch_request_counts_its_latency_once_and_cost_comes_from_cpu(
        settings: Settings, model: WatchedModel) -> None:
    predictions_path(settings, model.name).parent.mkdir(parents=True, exist_ok=True)
    _log(settings, model, make_frame(100, seed=3), at=BASE + 60, request_rows=100,
         request_ms=646.0, cpu_ms=0.5)
    _log(settings, model, make_frame(20, seed=4), at=BASE + 120, request_ms=5.0, cpu_ms=0.3)
    span = window_span(BASE + 3600, 3600, 600)
    result = measure_window(model, span, settings=settings, config=MonitorConfig(),
                            now=BASE + 7200)
    m = result.measures
    assert result.n_predictions == 120
    assert m["latency.p99_ms"] is not None and m["latency.p99_ms"] < 10  # 6.46 ms/row
    assert abs(m["latency.mean_ms"] - (646.0 + 20 * 5.0) / 120) < 1e-9
    assert m["latency.request_p99_ms"] is not None and m["latency.request_p99_ms"] > 600
    assert abs(m["requests.mean_rows"] - 120 / 21) < 1e-9
    assert abs(m["cost.compute_ms_per_1k"] - (100 * 0.5 + 20 * 0.3) / 120 * 1000) < 1e-6


def test_a_latency_alert_is_explained_by_latency_not_drift(settings: Settings,
                                                           model: WatchedModel) -> None:
    predictions_path(settings, model.name).parent.mkdir(parents=True, exist_ok=True)
    drifted = make_frame(300, seed=5, shift=2.0)  # drift is there too, and irrelevant
    _log(settings, model, drifted[:200], at=BASE + 60, request_rows=100, request_ms=900.0)
    _log(settings, model, drifted[200:], at=BASE + 90, request_ms=4.0)
    sink = MemorySink()
    config = dataclasses.replace(_config(slow={
        "measure": "latency.request_p99_ms", "threshold": 500, "min_samples": 100}),
        sinks=(sink,))
    run = run_monitor(model, settings=settings, config=config, end=BASE + 3600,
                      now=BASE + 7200)
    (report,) = run.alerts
    cause = report.incident.root_cause
    assert cause["kind"] == "latency"
    assert cause["rows_per_request"]["max"] == 100
    assert cause["slowest"][0] == {"request_latency_ms": 900.0, "rows": 100,
                                   "model_version": 1}
    assert "max 100" in cause["summary"] and "drift" not in cause["summary"]


def test_late_rows_land_in_the_bucket_they_arrived_in(settings: Settings,
                                                      model: WatchedModel) -> None:
    store = Store.open(settings)
    predictions_path(settings, model.name).parent.mkdir(parents=True, exist_ok=True)
    _log(settings, model, make_frame(100, seed=6), at=BASE + 10)
    first = window_span(BASE + 600, 600, 600)
    before = measure_window(model, first, settings=settings, config=MonitorConfig(),
                            store=store, now=BASE + 3600)
    assert before.n_predictions == 100 and before.buckets["profiled"] == 1  # stored
    # predicted in the first bucket, but the log write was delayed into the second
    _log(settings, model, make_frame(40, seed=7), at=BASE + 20, arrived=BASE + 700)
    both = window_span(BASE + 1200, 1200, 600)
    after = measure_window(model, both, settings=settings, config=MonitorConfig(),
                           store=store, now=BASE + 3600)
    assert after.n_predictions == 140
    assert after.buckets == {"stored": 1, "profiled": 1, "live": 0}


def test_prediction_drift_is_measured_against_the_packages_holdout_predictions(
        settings: Settings, model: WatchedModel) -> None:
    holdout = make_frame(1000, seed=8)
    proba = model.pipeline.predict_proba(holdout.select(FEATURES).to_pandas())[:, 1]
    reference = profile(pl.DataFrame({"prediction": np.where(proba >= 0.5, "1", "0"),
                                      "probability": proba})).to_dict()
    packaged = dataclasses.replace(model, prediction_profile=reference)
    predictions_path(settings, model.name).parent.mkdir(parents=True, exist_ok=True)
    # drifted from the first request on: the first span of traffic is no reference
    _log(settings, model, make_frame(400, seed=9, shift=2.0), at=BASE + 30)
    _log(settings, model, make_frame(400, seed=10, shift=2.0), at=BASE + 630)
    span = window_span(BASE + 1200, 600, 600)
    config = parse_config({"bucket": "10m", "window": "10m", "baseline": "10m"})
    live_only = measure_window(model, span, settings=settings, config=config,
                               now=BASE + 3600, record=False)
    assert live_only.prediction_drift["baseline"]["source"] == "first live traffic"
    assert live_only.measures["prediction_drift.psi"] < 0.01  # blind: compared to itself
    against_package = measure_window(packaged, span, settings=settings, config=config,
                                     now=BASE + 3600, record=False)
    assert against_package.prediction_drift["baseline"] == {"source": "package",
                                                            "n": 1000}
    assert against_package.measures["prediction_drift.psi"] > 0.2
