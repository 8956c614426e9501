"""What the docs pages' hidden ``<!-- docs-setup -->`` blocks build before a page's own
code runs (tests/test_docs.py): a small churn table, trained models, a production
version and logged live traffic, in the fresh lockgate home the test points
``LOCKGATE_HOME`` at. Small data and the quick budget: the pages run in seconds."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import httpx
import numpy as np
import polars as pl
from sklearn.tree import DecisionTreeClassifier

from lockgate.config import Settings, load_settings
from lockgate.data import Contract, ingest, read
from lockgate.demo.dataset import CONTRACT, churn_frame
from lockgate.modeling import TrainConfig, TrainResult, train

ROWS = 400
QUICK = TrainConfig.for_budget("quick", naive=(), charts=False)


def churn_table(rows: int = ROWS) -> Settings:
    """The quickstart's churn table (clean rows), ingested as ``churn@v0``."""
    settings = load_settings()
    ingest(churn_frame(rows), "churn", Contract.from_yaml(CONTRACT), settings=settings)
    return settings


def new_customers(n: int = 5) -> pl.DataFrame:
    """Customers to score: the table's newest rows, as its typed feature columns."""
    features = Contract.from_yaml(CONTRACT).feature_columns
    return read("churn", settings=load_settings()).tail(n).select(features)


def trained(estimator: Any, name: str) -> TrainResult:
    """A quick-budget training run on ``churn``."""
    return train("churn", estimator, settings=load_settings(), experiment="docs", name=name,
                 config=QUICK)


def stump_in_production(estimator: Any = None) -> int:
    """A one-split tree (or ``estimator``) registered and promoted: the incumbent."""
    from lockgate.registry import Registry, promote
    from lockgate.registry.registration import register_run
    from lockgate.store import Store

    settings = load_settings()
    registry = Registry(Store.open(settings), settings)
    stump = trained(estimator or DecisionTreeClassifier(max_depth=1, random_state=0),
                    "incumbent")
    version = register_run(registry, "churn", stump.run_id).version
    promote(registry, "churn", version, to="production")
    return version


def customer() -> dict[str, Any]:
    """One record of the model's features, as JSON a client would send."""
    return customer_row(new_customers(1).row(0, named=True))


def served_traffic(n: int = 120) -> None:
    """Predictions from ``churn@production`` through a real server on 127.0.0.1, with
    their feedback, flushed to the prediction log before returning."""
    from lockgate.serving import BackgroundServer, ServeConfig

    rows = [customer_row(r) for r in new_customers(n).iter_rows(named=True)]
    config = ServeConfig("churn@production", port=0, log_flush_seconds=0.2)
    with BackgroundServer(config, load_settings()) as server, \
            httpx.Client(base_url=server.url, timeout=60) as client:
        answers = client.post("/predict", json={"records": rows}).json()["predictions"]
        rng = np.random.default_rng(0)
        items = [{"request_id": a["request_id"], "label": str(bool(rng.random() < 0.3))}
                 for a in answers]
        client.post("/feedback", json={"items": items}).raise_for_status()
        time.sleep(1.0)  # past the log's flush interval; stopping flushes the rest


def customer_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, dt.date | dt.datetime) else v
            for k, v in row.items()}
