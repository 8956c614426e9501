"""Validation: the contract compiled to checks, one pass, reasons and counts."""

from __future__ import annotations

import polars as pl

from lockgate.data import ColumnSpec, Contract
from lockgate.data.normalize import map_columns, normalize
from lockgate.data.validation import compile_checks, validate


def _validate(contract: Contract, frame: pl.DataFrame, existing: pl.DataFrame | None = None):
    normalized = normalize(frame, contract, map_columns(frame.columns, contract))
    return validate(normalized, contract, existing=existing)


def test_rows_get_every_reason_that_applies() -> None:
    contract = Contract("t", "1", (
        ColumnSpec("id", "int", nullable=False), ColumnSpec("age", "int", min=0, max=120),
        ColumnSpec("email", "string", regex=r"@", unique=True, max_length=6)),
        primary_key=("id",))
    frame = pl.DataFrame({"id": ["1", "2", "2", "", "5"],
                          "age": ["30", "-1", "x", "40", "50"],
                          "email": ["a@b", "a@b", "c@d", "nope", "verylong@x"]})
    outcome = _validate(contract, frame)
    assert outcome.accepted.height == 0
    reasons = dict(zip(outcome.quarantined["row"], outcome.quarantined["reasons"],
                       strict=True))
    assert sorted(reasons[0]) == ["unique:email"]
    assert sorted(reasons[1]) == ["duplicate:id", "range:age", "unique:email"]
    assert sorted(reasons[2]) == ["duplicate:id", "type:age"]
    assert sorted(reasons[3]) == ["null:id", "regex:email"]
    assert sorted(reasons[4]) == ["length:email"]
    assert outcome.counts["unique:email"] == 2 and outcome.counts["type:id"] == 0
    assert outcome.checks_record()["range:age"] == {"passed": 4, "failed": 1, "level": "row",
                                                     "ok": True}
    assert '"age":"x"' in outcome.quarantined["raw"][2]


def test_keep_first_and_existing_keys() -> None:
    contract = Contract("t", "1", (ColumnSpec("k", "int"), ColumnSpec("v", "string")),
                        primary_key=("k",), on_duplicate="keep_first")
    frame = pl.DataFrame({"k": ["1", "1", "2", "3"], "v": ["a", "b", "c", "d"]})
    outcome = _validate(contract, frame, existing=pl.DataFrame({"k": [3]}))
    assert outcome.accepted["v"].to_list() == ["a", "c"]
    assert outcome.quarantined["row"].to_list() == [1, 3]


def test_composite_primary_key() -> None:
    contract = Contract("t", "1", (ColumnSpec("a", "int"), ColumnSpec("b", "string")),
                        primary_key=("a", "b"))
    frame = pl.DataFrame({"a": ["1", "1", "1"], "b": ["x", "y", "x"]})
    existing = pl.DataFrame({"a": [1], "b": ["y"]})
    outcome = _validate(contract, frame, existing)
    # (1, x) twice with the same values is one row and a copy; (1, y) had landed.
    assert outcome.accepted.rows() == [(1, "x")] and outcome.deduplicated == 1
    assert outcome.reasons == {"duplicate:a+b": 1}
    assert outcome.quarantined["row"].to_list() == [1]  # its position in the batch
    assert [c for c in (x.name for x in compile_checks(contract))] == [
        "type:a", "type:b", "duplicate:a+b"]
