"""A small `orders` table with a passing version and a version whose batch check fails."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from lockgate.config import Settings
from lockgate.data import Contract, ingest

CONTRACT = {
    "table": "orders", "version": "1", "primary_key": ["id"], "target": "label",
    "columns": [
        {"name": "id", "type": "int", "unique": True},
        {"name": "amount", "type": "float", "min": 0},
        {"name": "kind", "type": "category", "allowed": ["a", "b"]},
        {"name": "label", "type": "int"},
    ],
}


def batch(start: int, n: int = 300, scale: float = 1.0, seed: int = 0,
          bad_kind: float = 0.0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    kinds = rng.choice(["a", "b", "zz"], n, p=[(1 - bad_kind) / 2, (1 - bad_kind) / 2,
                                              bad_kind])
    return pl.DataFrame({
        "id": range(start, start + n), "amount": rng.gamma(2.0, 20.0, n) * scale,
        "kind": kinds, "label": rng.integers(0, 2, n),
    })


@pytest.fixture
def orders(settings: Settings) -> Settings:
    """orders@v0: 300 rows, 5 % quarantined (kind not allowed), passes;
    orders@v1: 300 rows with amount x1000, fails the batch-level scale check."""
    ingest(batch(0, bad_kind=0.05), "orders", Contract.from_dict(CONTRACT), settings=settings)
    ingest(batch(300, scale=1000.0, seed=1), "orders", settings=settings)
    return settings


@pytest.fixture
def orders_any(any_settings: Settings) -> Settings:
    """One passing version of `orders`, on SQLite and on PostgreSQL."""
    ingest(batch(0), "orders", Contract.from_dict(CONTRACT), settings=any_settings)
    return any_settings
