"""The store's row-accounting refusal is a LockgateError with its fields, so the CLI
shows its message instead of "unexpected error ... report it"."""

from __future__ import annotations

import pytest

from lockgate.config import Settings
from lockgate.errors import LockgateError, StoreError
from lockgate.store import RowAccountingError, Store


@pytest.fixture
def store(settings: Settings) -> Store:
    return Store.open(settings)


def test_rows_that_do_not_add_up_are_refused_with_their_counts(store: Store) -> None:
    with pytest.raises(RowAccountingError, match="ingested 5 != accepted 3 \\+ quarantined "
                       "1 \\(\\+1 rows unaccounted\\)") as caught:
        store.add_dataset_version("orders", rows_ingested=5, rows_accepted=3,
                                  rows_quarantined=1)
    error = caught.value
    assert isinstance(error, LockgateError) and isinstance(error, StoreError)
    assert isinstance(error, ValueError)  # callers that caught ValueError still do
    assert (error.table, error.ingested, error.accepted, error.quarantined) == (
        "orders", 5, 3, 1)
    assert error.headline == "Rows do not add up"
    assert store.dataset_versions("orders") == []  # nothing recorded


def test_invented_rows_are_refused_too(store: Store) -> None:
    with pytest.raises(RowAccountingError, match="\\(-2 rows unaccounted\\)"):
        store.add_dataset_version("orders", rows_ingested=3, rows_accepted=3,
                                  rows_quarantined=2)
