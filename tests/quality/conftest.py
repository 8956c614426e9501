"""A small `orders` table with a passing version and a version whose batch check fails."""

from __future__ import annotations

import pytest

from lockgate.config import Settings
from lockgate.data import Contract, ingest
from tests.quality.orders_cases import CONTRACT, batch


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
