"""Fixtures for monitoring tests: a small fitted model, its contract, reference profile
and evaluation, and helpers writing prediction-log and feedback Delta tables with the
exact schema `lockgate.serving.prediction_log` defines (as the serving stage writes them)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from lockgate.config import Settings
from lockgate.monitoring import WatchedModel
from lockgate.quality import profile
from lockgate.serving import feedback_path, predictions_path
from tests.monitoring.monitoring_cases import CONTRACT, FEATURES, TIMESTAMP, make_frame


@pytest.fixture(scope="session")
def trained() -> dict[str, Any]:
    """A fitted pipeline on clean data, with its reference profile and evaluation."""
    train = make_frame(3000, seed=1)
    pipeline = Pipeline([
        ("features", ColumnTransformer([
            ("num", "passthrough", ["amount", "age", "tenure"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["country"]),
        ])),
        ("model", RandomForestClassifier(n_estimators=30, max_depth=6, random_state=0)),
    ])
    pipeline.fit(train.select(FEATURES).to_pandas(), train["churned"].to_numpy())
    holdout = make_frame(1000, seed=2)
    predicted = pipeline.predict(holdout.select(FEATURES).to_pandas())
    accuracy = float(np.mean(predicted == holdout["churned"].to_numpy()))
    reference = profile(train, contract=CONTRACT).to_dict()
    evaluation = {"problem_type": "binary", "primary_metric": "accuracy",
                  "greater_is_better": True, "metrics": {"accuracy": accuracy},
                  "dataset": {"table": "orders", "version": 1, "dataset_version_id": None}}
    return {"pipeline": pipeline, "reference": reference, "evaluation": evaluation}


@pytest.fixture
def model(trained: dict[str, Any]) -> WatchedModel:
    """The watched model ``churn`` version 1."""
    return WatchedModel(
        name=f"churn{uuid.uuid4().hex[:6]}", version=1, pipeline=trained["pipeline"],
        contract=CONTRACT, reference_profile=trained["reference"],
        evaluation=trained["evaluation"],
        lineage={"table": "orders", "dataset_version": 1, "run_id": None})


LogFn = Callable[..., pl.DataFrame]


@pytest.fixture
def log_predictions(settings: Settings) -> LogFn:
    """Predict rows with the model and append them to its prediction log."""

    def write(model: WatchedModel, frame: pl.DataFrame, *, start: float, seconds: float,
              latency_ms: float = 5.0, version: int = 1) -> pl.DataFrame:
        n = frame.height
        proba = model.pipeline.predict_proba(frame.select(FEATURES).to_pandas())[:, 1]
        labels = np.where(proba >= 0.5, "1", "0")
        stamps = start + np.linspace(0, seconds, n, endpoint=False)
        log = pl.DataFrame({
            "request_id": [uuid.uuid4().hex for _ in range(n)],
            "timestamp": pl.Series((stamps * 1e6).astype(np.int64)).cast(TIMESTAMP),
            "model_name": [model.name] * n,
            "model_version": pl.Series([version] * n, dtype=pl.Int64),
            "amount": frame["amount"], "age": frame["age"].cast(pl.Int64),
            "country": frame["country"], "tenure": frame["tenure"],
            "prediction": labels, "probability": proba,
            "latency_ms": np.random.default_rng(0).gamma(4.0, latency_ms / 4.0, n),
        })
        path = predictions_path(settings, model.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        log.write_delta(str(path), mode="append")
        return log.with_columns(frame["churned"].alias("truth"))

    return write


@pytest.fixture
def send_feedback(settings: Settings) -> Callable[..., None]:
    """Append ground truth for logged predictions, ``delay`` seconds after each."""

    def write(model: WatchedModel, logged: pl.DataFrame, labels: list[str] | pl.Series,
              *, delay: float = 600.0) -> None:
        feedback = pl.DataFrame({
            "request_id": logged["request_id"],
            "timestamp": logged["timestamp"] + dt.timedelta(seconds=delay),
            "label": pl.Series(list(labels), dtype=pl.String),
        })
        path = feedback_path(settings, model.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        feedback.write_delta(str(path), mode="append")

    return write
