"""Quarantine release: after a contract fix, rows that now pass land as a new version."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from lockgate.config import Settings
from lockgate.data import Contract, ingest, quarantined, read, release
from lockgate.data.quarantine import summary


def test_release_after_contract_fix(tmp_path: Path, settings: Settings,
                                    orders: Contract) -> None:
    path = tmp_path / "a.csv"
    path.write_text("order_id,amount,ordered_at,channel,email\n"
                    "1,10,2025-01-01,web,a@b\n2,20000,2025-01-01,web,a@b\n"
                    "3,30000,2025-01-01,app,a@b\n4,5,not-a-date,web,a@b\n")
    first = ingest(path, "orders", orders, settings=settings)
    assert first.quarantined == 3
    grouped = summary(quarantined("orders", settings=settings))
    assert dict(zip(grouped["reason"], grouped["rows"], strict=True)) == {
        "range:amount": 2, "allowed:channel": 1, "parse:ordered_at": 1}
    unchanged = release("orders", settings=settings)
    assert (unchanged.released, unchanged.remaining) == (0, 3)
    columns = tuple(replace(c, max=100_000) if c.name == "amount" else c
                    for c in orders.columns)
    fixed = orders.with_changes(columns=columns, version="2")
    result = release("orders", fixed, settings=settings)
    assert (result.checked, result.released, result.remaining) == (3, 1, 2)
    assert result.dataset_version == 1
    assert sorted(read("orders", settings=settings)["order_id"]) == [1, 2]
    left = quarantined("orders", settings=settings)
    assert left.height == 2
    assert sorted(r for rs in left["reasons"] for r in rs) == [
        "allowed:channel", "parse:ordered_at", "range:amount"]
    again = release("orders", fixed, settings=settings)
    assert (again.released, again.remaining) == (0, 2)
