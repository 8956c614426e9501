"""Data for monitoring tests: the contract, a synthetic churn frame with a controllable
shift, and the hour-aligned instant windows start from."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from lockgate.config import Settings
from lockgate.data.contract import Contract
from lockgate.quality import profile
from lockgate.store import Store
from lockgate.tracking import start_run

TIMESTAMP = pl.Datetime("us", "UTC")
FEATURES = ["amount", "age", "country", "tenure"]
CONTRACT = Contract.from_dict({
    "table": "orders",
    "version": "1",
    "primary_key": ["order_id"],
    "target": "churned",
    "columns": [
        {"name": "order_id", "type": "int", "nullable": False},
        {"name": "amount", "type": "float", "min": 0.0, "max": 1000.0},
        {"name": "age", "type": "int", "min": 18, "max": 100},
        {"name": "country", "type": "category", "allowed": ["US", "DE", "FR"]},
        {"name": "tenure", "type": "float", "min": 0.0},
        {"name": "churned", "type": "category", "allowed": ["0", "1"]},
    ],
})
#: An hour-aligned instant a day ago: windows in tests are closed, as in production.
BASE = (int(dt.datetime.now(dt.UTC).timestamp()) // 3600 - 24) * 3600.0


def make_frame(n: int, seed: int, *, shift: float = 0.0) -> pl.DataFrame:
    """Synthetic rows; ``shift`` moves amount (the most important feature) and age."""
    rng = np.random.default_rng(seed)
    amount = np.clip(rng.normal(300 + shift * 150, 80, n), 0, 1000)
    age = np.clip(rng.normal(40 + shift * 10, 10, n), 18, 100).astype(int)
    country = rng.choice(["US", "DE", "FR"], n, p=[0.5, 0.3, 0.2])
    tenure = rng.exponential(3.0, n)
    logit = (amount - 300) / 60 + (age - 40) / 25
    churned = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int).astype(str)
    return pl.DataFrame({"order_id": np.arange(n), "amount": amount, "age": age,
                         "country": country, "tenure": tenure, "churned": churned})


def train_run(settings: Settings, frame: pl.DataFrame, dataset_version_id: int,
           version: int) -> str:
    """A real tracked training run logging what the registry registers."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    train, holdout = frame.head(frame.height - 500), frame.tail(500)
    pipeline = Pipeline([
        ("features", ColumnTransformer([
            ("num", "passthrough", ["amount", "age", "tenure"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["country"])])),
        ("model", RandomForestClassifier(n_estimators=30, max_depth=6, random_state=0))])
    pipeline.fit(train.select(FEATURES).to_pandas(), train["churned"].to_numpy())
    predicted = pipeline.predict(holdout.select(FEATURES).to_pandas())
    accuracy = float(np.mean(predicted == holdout["churned"].to_numpy()))
    evaluation = {
        "problem_type": "binary", "primary_metric": "accuracy", "greater_is_better": True,
        "metrics": {"accuracy": accuracy}, "leak_free": True, "findings": [],
        "dataset": {"table": "orders", "version": version,
                    "dataset_version_id": dataset_version_id},
        "holdout": {"key": "order_id", "ids": holdout["order_id"].to_list()}}
    with start_run("train", experiment="churn", settings=settings, capture_console=False,
                   sample_hardware=False, capture_code=False) as run:
        run.log_value(pipeline, "model")
        run.log_dict(evaluation, "evaluation")
        run.log_dict(profile(train, contract=CONTRACT).to_dict(),
                     "reference_profile")
        run.log_frame(holdout, "holdout")
    return run.id


def dataset_versions(store: Store) -> tuple[int, int]:
    v1 = store.add_dataset_version(
        "orders", version=1, rows_ingested=3000, rows_accepted=3000, validation_status="passed",
        checks={"range:amount": {"passed": 3000, "failed": 0, "level": "row", "ok": True}},
        details={"reasons": {}})
    v2 = store.add_dataset_version(
        "orders", version=2, rows_ingested=1000, rows_accepted=880, rows_quarantined=120,
        validation_status="passed",
        checks={"range:amount": {"passed": 880, "failed": 120, "level": "row", "ok": True}},
        details={"reasons": {"range:amount": 120}})
    return v1.id, v2.id


def register_served(settings: Settings, name: str = "churn") -> int:
    """Register a trained model and make it the production version (test setup: the
    gates are the registry's own tests)."""
    from lockgate.registry import Registry

    store = Store.open(settings)
    v1_id, _ = dataset_versions(store)
    frame = make_frame(3500, seed=11)
    registry = Registry(store, settings)
    mv = registry.register(
        name, train_run(settings, frame, v1_id, 1), contract=CONTRACT,
        reference_profile=profile(frame.head(3000),
                                  contract=CONTRACT).to_dict(),
        holdout=frame.tail(500))
    registry.transition(name, mv.version, "production", action="promote",
                        reason="test setup: the champion being watched")
    return mv.version

#: A retraining pipeline file: one step whose outputs are what the registry registers.
PIPELINE_FILE = '''
import numpy as np
import polars as pl
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from lockgate.pipelines import Pipeline as LgPipeline, node, step
from lockgate.quality import profile

FEATURES = ["amount", "age", "country", "tenure"]


@step
def fit(rows: int = 2000, dataset_version_id: int = 0):
    rng = np.random.default_rng(3)
    amount = rng.normal(600, 80, rows)
    age = rng.normal(60, 10, rows).round().astype(int)
    frame = pl.DataFrame({"order_id": np.arange(rows), "amount": amount, "age": age,
                          "country": rng.choice(["US", "DE", "FR"], rows),
                          "tenure": rng.exponential(3.0, rows),
                          "churned": np.where(amount > 600, "1", "0")})
    train, holdout = frame.head(rows - 300), frame.tail(300)
    model = Pipeline([
        ("features", ColumnTransformer([
            ("num", "passthrough", ["amount", "age", "tenure"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["country"])])),
        ("model", RandomForestClassifier(n_estimators=10, random_state=0))])
    model.fit(train.select(FEATURES).to_pandas(), train["churned"].to_numpy())
    accuracy = float(np.mean(model.predict(holdout.select(FEATURES).to_pandas())
                             == holdout["churned"].to_numpy()))
    evaluation = {"problem_type": "binary", "primary_metric": "accuracy",
                  "metrics": {"accuracy": accuracy}, "leak_free": True, "findings": [],
                  "dataset": {"table": "orders", "version": 2,
                              "dataset_version_id": dataset_version_id}}
    return model, evaluation, profile(train).to_dict(), holdout


def retrain():
    return LgPipeline("retrain-churn", [node(fit, outputs=["model", "evaluation",
                                                          "reference_profile", "holdout"])])
'''
