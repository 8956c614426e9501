"""Modeling test fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True)
def _one_openmp_thread() -> Iterator[None]:
    """The test machine is shared: OpenMP thread contention makes tiny boosting fits slow."""
    with threadpool_limits(limits=1, user_api="openmp"):
        yield
