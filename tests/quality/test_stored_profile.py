"""Stored profiles: computed once per dataset version and scope, then read back."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from lockgate.config import Settings
from lockgate.data import Contract, ingest, read
from lockgate.quality import profile, quality_report
from lockgate.quality.stored_profile import batch_profile_for, profile_for
from lockgate.store import Store
from lockgate.store.tables_quality import quality_profiles
from tests.quality.orders_cases import CONTRACT, batch


def _stored_rows(settings: Settings) -> list[tuple]:
    with Store.open(settings).read() as conn:
        return list(conn.execute(sa.select(quality_profiles.c.dataset_version_id,
                                           quality_profiles.c.scope, quality_profiles.c.rows)))


def test_profile_is_computed_once_and_linked_to_the_version(orders: Settings) -> None:
    first = profile_for("orders", 1, settings=orders)
    again = profile_for("orders", 1, settings=orders)
    assert again.to_dict() == first.to_dict()
    version = Store.open(orders).dataset_version("orders", 1)
    assert _stored_rows(orders) == [(version.id, "snapshot", first.rows)]
    expected = profile(read("orders", 1, settings=orders))
    v0 = Store.open(orders).dataset_version("orders", 0)
    assert first.rows == expected.rows == version.rows_accepted + v0.rows_accepted
    # merged from the version's files: the same mean to rounding
    assert first["amount"].mean == pytest.approx(expected["amount"].mean, rel=1e-12)
    assert first.roles["label"] == "target" and first.roles["id"] == "primary_key"


def test_batch_profile_holds_only_the_rows_the_version_added(orders: Settings) -> None:
    added = batch_profile_for("orders", 1, settings=orders)
    before = profile_for("orders", 0, settings=orders)
    assert added.rows == 300
    assert before.rows == Store.open(orders).dataset_version("orders", 0).rows_accepted
    assert added["id"].minimum == 300 and added["amount"].mean > 1000 * before["amount"].mean / 2
    merged = before.merge(added)
    assert merged.rows == profile_for("orders", 1, settings=orders).rows


def test_stored_profiles_on_both_backends(orders_any: Settings) -> None:
    assert profile_for("orders", settings=orders_any).rows == 300
    assert profile_for("orders", settings=orders_any).rows == 300
    assert len(_stored_rows(orders_any)) == 1


def test_version_that_added_no_rows_has_an_empty_batch_profile(settings: Settings) -> None:
    contract = Contract.from_dict(CONTRACT)
    ingest(batch(0, n=50), "orders", contract, settings=settings)
    landed = ingest(batch(50, n=20, bad_kind=1.0), "orders", settings=settings)
    assert landed.dataset_version.rows_accepted == 0
    added = batch_profile_for("orders", 1, settings=settings)
    assert added.rows == 0
    assert list(added.columns) == ["id", "amount", "kind", "label"]
    drift = quality_report("orders", 1, settings=settings).data["drift"]
    assert drift == {"compared": False, "why": "orders@v1 added no rows"}


def test_snapshot_after_an_append_is_merged_from_stored_profiles(orders: Settings) -> None:
    before = profile_for("orders", 0, settings=orders)
    added = batch_profile_for("orders", 1, settings=orders)
    snapshot = profile_for("orders", 1, settings=orders)
    assert snapshot.to_dict() == before.merge(added).to_dict()
    whole = profile(read("orders", 1, settings=orders))
    assert snapshot.rows == whole.rows
    for name, column in whole.columns.items():
        merged = snapshot[name]
        assert (merged.count, merged.nulls, merged.minimum, merged.maximum,
                merged.categories) == (column.count, column.nulls, column.minimum,
                                       column.maximum, column.categories)
        if column.mean is not None:
            assert merged.mean == pytest.approx(column.mean, rel=1e-9)
    assert snapshot.roles["label"] == "target"
