"""Windows: buckets profiled once and merged, never re-read; open buckets not stored;
latency quantiles and contract checks from the log."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from lockgate.config import Settings
from lockgate.errors import NotFoundError
from lockgate.monitoring import WatchedModel, window_span
from lockgate.monitoring.contract_check import count_violations
from lockgate.monitoring.window import (
    BucketProfile,
    PredictionLogError,
    profile_predictions,
    stored_bucket_count,
    window_profile,
)
from lockgate.serving import predictions_path
from lockgate.store import Store
from tests.monitoring.monitoring_cases import BASE, CONTRACT, FEATURES, make_frame


def test_window_span_aligns_on_buckets() -> None:
    span = window_span(BASE + 3599.0, 3600, 300)
    assert (span.start, span.end) == (BASE, BASE + 3600)
    assert len(span.buckets) == 12 and span.buckets[0] == (BASE, BASE + 300)


def test_buckets_are_profiled_once_then_merged(any_settings: Settings, model: WatchedModel,
                                                log_predictions) -> None:
    settings = any_settings  # the same data root as the log fixture; SQLite or PostgreSQL
    logged = log_predictions(model, make_frame(1200, seed=3), start=BASE, seconds=3600)
    store = Store.open(settings)
    span = window_span(BASE + 3600, 3600, 300)
    first, counts = window_profile(store, settings, model.name, span, features=FEATURES,
                                   contract=CONTRACT)
    assert counts == {"stored": 0, "profiled": 12, "live": 0}
    assert stored_bucket_count(store, model.name) == 12
    # Replace the log: a window merged from stored buckets does not read it again.
    logged.head(5).drop("truth").write_delta(str(predictions_path(settings, model.name)),
                                            mode="overwrite")
    again, counts = window_profile(store, settings, model.name, span, features=FEATURES,
                                   contract=CONTRACT)
    assert counts == {"stored": 12, "profiled": 0, "live": 0}
    assert again.n == first.n == 1200
    assert again.to_dict() == first.to_dict()


def test_merged_buckets_equal_the_profile_of_all_rows(settings: Settings,
                                                      model: WatchedModel,
                                                      log_predictions) -> None:
    logged = log_predictions(model, make_frame(900, seed=4), start=BASE, seconds=3600)
    store = Store.open(settings)
    merged, _ = window_profile(store, settings, model.name, window_span(BASE + 3600, 3600, 600),
                               features=FEATURES, contract=CONTRACT)
    whole = profile_predictions(logged.drop("truth"), FEATURES, CONTRACT)
    assert merged.n == whole.n and merged.versions == whole.versions == {"1": 900}
    assert merged.latency_counts == whole.latency_counts
    assert merged.violations == whole.violations
    a, b = merged.features, whole.features
    assert a is not None and b is not None
    assert a.rows == b.rows == 900
    assert a["amount"].mean == pytest.approx(b["amount"].mean)
    assert a["country"].categories == b["country"].categories
    assert merged.first_ts == pytest.approx(BASE) and merged.last_ts < BASE + 3600


def test_open_bucket_is_profiled_but_not_stored(settings: Settings, model: WatchedModel,
                                                log_predictions) -> None:
    log_predictions(model, make_frame(120, seed=5), start=BASE, seconds=600)
    store = Store.open(settings)
    span = window_span(BASE + 600, 600, 300)
    merged, counts = window_profile(store, settings, model.name, span, features=FEATURES,
                                    contract=CONTRACT, now=BASE + 400)
    assert counts == {"stored": 0, "profiled": 1, "live": 1}
    assert merged.n == 120
    assert stored_bucket_count(store, model.name) == 1


def test_latency_quantiles_from_the_histogram() -> None:
    rng = np.random.default_rng(0)
    latency = rng.lognormal(2.0, 0.5, 5000)
    frame = make_frame(5000, seed=1).with_columns(
        pl.Series("latency_ms", latency),
        pl.lit("r").alias("request_id"), pl.lit(1).alias("model_version"),
        pl.lit("1").alias("prediction"), pl.lit(0.5).alias("probability"),
        pl.lit(BASE).cast(pl.Datetime("us", "UTC")).alias("timestamp"))
    prof = profile_predictions(frame, FEATURES, CONTRACT)
    for q in (0.5, 0.95, 0.99):
        exact = float(np.quantile(latency, q))
        assert exact <= prof.latency_quantile(q) <= exact * 1.13
    assert prof.latency_quantile(1.0) == pytest.approx(latency.max())
    assert BucketProfile().latency_quantile(0.5) is None


def test_contract_checks_on_live_inputs() -> None:
    frame = pl.DataFrame({
        "amount": [10.0, 2000.0, -1.0, None], "age": [30, 17, 40, 50],
        "country": ["US", "XX", None, "DE"], "tenure": [1.0, 1.0, 1.0, 1.0]})
    counts = count_violations(frame, CONTRACT)
    assert counts["range:amount"] == 2 and counts["range:age"] == 1
    assert counts["allowed:country"] == 1
    assert counts["__any__"] == 2


def test_log_missing_a_contract_feature(model: WatchedModel) -> None:
    frame = pl.DataFrame({"amount": [1.0], "latency_ms": [1.0]})
    with pytest.raises(PredictionLogError, match="no column\\(s\\) age, country, tenure"):
        profile_predictions(frame, FEATURES, CONTRACT)


def test_monitoring_before_any_traffic(settings: Settings, model: WatchedModel) -> None:
    from lockgate.monitoring import MonitorConfig, measure_window

    with pytest.raises(NotFoundError, match=f"No prediction log for model `{model.name}`"):
        measure_window(model, window_span(BASE, 3600, 300), settings=settings,
                       config=MonitorConfig())
