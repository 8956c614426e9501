"""Test cases shared by the registry and serving tests: a fitted pipeline, its
evaluation and a validated dataset version, logged on a run as lockgate.modeling does."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from lockgate.config import Settings
from lockgate.registry import Registry
from lockgate.store import Store
from lockgate.tracking import start_run

FEATURES = ["age", "income", "tenure"]
CONTRACT: dict[str, Any] = {
    "table": "customers", "version": "1",
    "columns": [
        {"name": "customer_id", "type": "int", "nullable": False, "unique": True},
        {"name": "age", "type": "int", "nullable": False, "min": 18, "max": 100},
        {"name": "income", "type": "float", "nullable": True, "min": 0.0},
        {"name": "tenure", "type": "float", "nullable": False, "min": 0.0, "max": 50.0},
        {"name": "churned", "type": "int", "nullable": False, "allowed": None},
    ],
    "primary_key": ["customer_id"], "target": "churned",
}


def make_frame(n: int = 400, seed: int = 0) -> pl.DataFrame:
    """A small churn table whose label depends on tenure and age."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 90, n)
    income = rng.normal(50_000, 15_000, n).clip(0)
    tenure = rng.uniform(0, 40, n)
    logit = -0.12 * (tenure - 15) + 0.03 * (age - 50)
    churned = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pl.DataFrame({"customer_id": np.arange(n), "age": age, "income": income,
                         "tenure": tenure, "churned": churned})


@dataclass
class Trained:
    run_id: str
    holdout: pl.DataFrame
    auc: float


def train_run(settings: Settings, frame: pl.DataFrame, *, features: list[str] | None = None,
              leak_free: bool = True, dataset_version_id: int | None = None,
              noise: bool = False, name: str = "train") -> Trained:
    """Fit on the first 70% and evaluate on the rest, logging `model` and `evaluation`."""
    features = features or FEATURES
    cut = int(frame.height * 0.7)
    train, holdout = frame[:cut], frame[cut:]
    x = train.select(features).to_pandas()
    y = train["churned"].to_numpy()
    if noise:  # a worse challenger: labels shuffled
        y = np.random.default_rng(1).permutation(y)
    pipeline = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression()).fit(x, y)
    proba = pipeline.predict_proba(holdout.select(features).to_pandas())[:, 1]
    auc = float(roc_auc_score(holdout["churned"].to_numpy(), proba))
    evaluation = {
        "problem_type": "binary", "primary_metric": "roc_auc", "greater_is_better": True,
        "metrics": {"roc_auc": auc}, "intervals": {"roc_auc": [auc - 0.05, auc + 0.05]},
        "baseline_metrics": {"roc_auc": 0.5}, "beats_baseline": auc > 0.5, "cv_metrics": {},
        "findings": [] if leak_free else [{"code": "target_leak", "severity": "blocking",
                                           "message": "`churned_copy` equals the target",
                                           "evidence": {}}],
        "leak_free": leak_free, "splitter": "KFold", "splitter_reason": "iid rows",
        "dataset": {"table": "customers", "version": 1,
                    "dataset_version_id": dataset_version_id},
        "holdout": {"key": "customer_id", "ids": holdout["customer_id"].to_list()},
    }
    with start_run(name, experiment="registry-tests", settings=settings,
                   capture_console=False, sample_hardware=False, capture_code=False) as run:
        run.log_value(pipeline, "model")
        run.log_dict(evaluation, "evaluation")
    return Trained(run.id, holdout, auc)


def dataset_version(store: Store, status: str = "passed") -> int:
    """Register a dataset version with the given validation status; returns its id."""
    checks = {"age_range": {"passed": 390, "failed": 0 if status == "passed" else 10,
                            "level": "batch", "ok": status == "passed"}}
    record = store.add_dataset_version(
        table_name="customers", source="test", batch_id=None, rows_ingested=400,
        rows_accepted=400, rows_quarantined=0, content_hash=None, contract_version="1",
        validation_status=status, checks=checks, details={},
    )
    return record.id


PROFILE = {"columns": {"age": {"mean": 50.0}}, "rows": 280}


def registered(settings: Settings, *, versions: int = 1, promote_first: bool = True
               ) -> tuple[Registry, list[Trained]]:
    """A registry holding ``versions`` good versions of `churn`; v1 in production."""
    store = Store.open(settings)
    registry = Registry(store, settings)
    dv = dataset_version(store)
    frame = make_frame()
    trained = []
    for i in range(versions):
        t = train_run(settings, frame, dataset_version_id=dv, name=f"train-{i}")
        registry.register("churn", t.run_id, contract=CONTRACT, reference_profile=PROFILE,
                          holdout=t.holdout)
        trained.append(t)
    if promote_first:
        registry.transition("churn", 1, "production", action="promote", reason="test setup")
    return registry, trained


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll until ``condition()`` holds (used for asynchronous log writes)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)
