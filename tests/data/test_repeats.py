"""Repeated keys found by hash: the same rows as Polars' own ``is_duplicated`` /
``is_first_distinct``, without a group-by over the batch."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from lockgate.data import ColumnSpec, Contract
from lockgate.data.repeats import later_repeat, repeated, repeated_rows
from lockgate.data.validation import compile_checks


def _frames() -> dict[str, tuple[pl.DataFrame, list[str]]]:
    rng = np.random.default_rng(3)
    n = 5_000
    ids = np.arange(n)
    ids[rng.integers(0, n, 40)] = 7  # a few repeats of one key, and of others
    ids[rng.integers(0, n, 40)] = rng.integers(0, n, 40)
    with_nulls = pl.Series("id", ids).scatter(rng.integers(0, n, 30), None)
    return {
        "int, few repeats": (pl.DataFrame({"id": ids}), ["id"]),
        "int with nulls": (pl.DataFrame({"id": with_nulls}), ["id"]),
        "no repeat": (pl.DataFrame({"id": np.arange(n)}), ["id"]),
        "text": (pl.DataFrame({"id": [f"k{i}" for i in ids]}), ["id"]),
        "floats, signed zero and NaN": (pl.DataFrame(
            {"id": [0.0, -0.0, float("nan"), float("nan"), 1.5, None, None, 2.5]}), ["id"]),
        "dates": (pl.DataFrame({"id": [dt.date(2024, 1, d % 5 + 1) for d in range(9)]}),
                  ["id"]),
        "composite with partial nulls": (pl.DataFrame({
            "a": [1, 1, 1, None, None, 2, 2], "b": ["x", "x", "y", "z", "z", None, None]}),
            ["a", "b"]),
        "dense: most rows repeat": (pl.DataFrame({
            "a": rng.integers(0, 30, n), "b": rng.integers(0, 3, n)}), ["a", "b"]),
        "all null": (pl.DataFrame({"id": pl.Series([None] * 6, dtype=pl.Int64)}), ["id"]),
        "empty": (pl.DataFrame({"id": pl.Series([], dtype=pl.Int64)}), ["id"]),
    }


@pytest.mark.parametrize("case", list(_frames()))
def test_repeats_are_the_rows_polars_finds(case: str) -> None:
    frame, columns = _frames()[case]
    key = pl.col(columns[0]) if len(columns) == 1 else pl.struct(columns)
    present = pl.all_horizontal([pl.col(c).is_not_null() for c in columns])
    got = frame.select(all=repeated(columns), later=later_repeat(columns))
    want = frame.select(all=present & key.is_duplicated(),
                        later=present & ~key.is_first_distinct())
    assert got.equals(want), case
    every = repeated_rows(frame.select(key).to_series(), nulls_equal=True)
    assert every.to_list() == frame.select(key.is_duplicated()).to_series().to_list()


def test_key_checks_do_not_group_the_whole_batch() -> None:
    """The primary-key and unique checks hash the key (a group-by over every row was
    ~64% of the validation pass's CPU; issue #18)."""
    contract = Contract("t", "1", (ColumnSpec("id", "int", nullable=False),
                                   ColumnSpec("email", "string", unique=True)),
                        primary_key=("id",))
    for on_duplicate in ("quarantine", "keep_first"):
        checks = compile_checks(contract.with_changes(on_duplicate=on_duplicate))
        keyed = [c for c in checks if c.name in ("duplicate:id", "unique:email")]
        assert len(keyed) == 2
        for check in keyed:
            plan = str(check.failed)
            assert "is_duplicated" not in plan and "is_first_distinct" not in plan, plan
