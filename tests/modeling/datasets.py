"""Small synthetic datasets for the modeling tests, each with at most one known leak."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from lockgate.data import ColumnSpec, Contract


def churn(n: int = 600, seed: int = 0) -> pl.DataFrame:
    """Independent customers, one row each; churn depends on tenure, charges and plan."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, n)
    charges = rng.normal(70, 20, n).round(2)
    plan = rng.choice(["basic", "plus", "pro"], n)
    logit = -0.04 * tenure + 0.03 * (charges - 70) + np.where(plan == "basic", 0.8, -0.3)
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    signup = [dt.date(2020, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 900, n)]
    return pl.DataFrame({
        "customer_id": np.arange(n),
        "tenure": tenure,
        "charges": np.where(rng.random(n) < 0.05, None, charges).tolist(),
        "plan": np.where(rng.random(n) < 0.03, None, plan).tolist(),
        "paperless": (rng.random(n) < 0.5).tolist(),
        "signup": signup,
        "churned": churned.tolist(),
    }, schema_overrides={"charges": pl.Float64, "plan": pl.String})


def churn_contract(**changes: object) -> Contract:
    columns = (
        ColumnSpec("customer_id", "int", nullable=False),
        ColumnSpec("tenure", "int"),
        ColumnSpec("charges", "float"),
        ColumnSpec("plan", "string"),
        ColumnSpec("paperless", "bool"),
        ColumnSpec("signup", "date"),
        ColumnSpec("churned", "bool"),
    )
    extra = tuple(ColumnSpec(name, kind) for name, kind in changes.pop("extra", ()))  # type: ignore[attr-defined]
    base = {"table": "churn", "version": "1", "columns": columns + extra,
            "primary_key": ("customer_id",), "target": "churned"}
    return Contract(**(base | changes))  # type: ignore[arg-type]


def events(n_entities: int = 60, per_entity: int = 8, seed: int = 0) -> pl.DataFrame:
    """Repeated measurements per customer: the customer's own level drives the target."""
    rng = np.random.default_rng(seed)
    customer = np.repeat(np.arange(n_entities), per_entity)
    level = rng.normal(0, 2, n_entities)[customer]
    x = rng.normal(size=customer.size)
    y = level + 0.3 * x + rng.normal(0, 0.3, customer.size)
    return pl.DataFrame({
        "event_id": np.arange(customer.size),
        "customer_key": [f"c{c:03d}" for c in customer],
        "x": x, "level_hint": level + rng.normal(0, 0.5, customer.size), "y": y,
    })


def events_contract(**changes: object) -> Contract:
    columns = (ColumnSpec("event_id", "int"), ColumnSpec("customer_key", "string"),
               ColumnSpec("x", "float"), ColumnSpec("level_hint", "float"),
               ColumnSpec("y", "float"))
    return Contract(**({"table": "events", "version": "1", "columns": columns,
                        "primary_key": ("event_id",), "target": "y"} | changes))  # type: ignore[arg-type]


def series(n: int = 400, seed: int = 0) -> pl.DataFrame:
    """A daily series with a trend and autocorrelated noise."""
    rng = np.random.default_rng(seed)
    noise = np.cumsum(rng.normal(0, 1, n)) * 0.5
    day = [dt.datetime(2022, 1, 1) + dt.timedelta(days=i) for i in range(n)]
    x = rng.normal(size=n)
    return pl.DataFrame({"row_id": np.arange(n), "day": day, "x": x,
                         "y": 0.02 * np.arange(n) + noise + x})


def series_contract(**changes: object) -> Contract:
    columns = (ColumnSpec("row_id", "int"), ColumnSpec("day", "datetime"),
               ColumnSpec("x", "float"), ColumnSpec("y", "float"))
    return Contract(**({"table": "series", "version": "1", "columns": columns,
                        "primary_key": ("row_id",), "target": "y"} | changes))  # type: ignore[arg-type]
