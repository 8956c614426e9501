"""Fixtures of the data stage's tests: a small contract and a Redis stream name."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from lockgate.data import ColumnSpec, Contract

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def orders() -> Contract:
    """Orders: an int key, a bounded amount, a timestamp, a category, an email."""
    return Contract(
        table="orders", version="1",
        columns=(
            ColumnSpec("order_id", "int", nullable=False),
            ColumnSpec("amount", "float", min=0, max=10_000, unit="EUR",
                       aliases=("total",)),
            ColumnSpec("ordered_at", "datetime", nullable=False),
            ColumnSpec("channel", "category", allowed=("web", "shop")),
            ColumnSpec("email", "string", regex=r"^[^@]+@[^@]+$", max_length=40),
        ),
        primary_key=("order_id",), event_time="ordered_at",
    )


@pytest.fixture
def redis_url() -> str:
    """The test Redis server."""
    return REDIS_URL


@pytest.fixture
def stream_key() -> Iterator[str]:
    """A unique Redis stream key, deleted afterwards."""
    key = f"lgtest:{uuid.uuid4().hex[:12]}"
    yield key
    client = redis.Redis.from_url(REDIS_URL)
    client.delete(key)
    client.close()
