"""Normalisation: aliases and spelling, casting text and typed columns, parse failures."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from lockgate.data import ColumnSpec, Contract
from lockgate.data.normalize import PARSE_FAIL, map_columns, normalize

CONTRACT = Contract("t", "1", (
    ColumnSpec("id", "int", aliases=("ID_number",)), ColumnSpec("x", "float"),
    ColumnSpec("ok", "bool"), ColumnSpec("at", "datetime"),
    ColumnSpec("day", "date", formats=("%d/%m/%Y", "%Y-%m-%d")),
    ColumnSpec("plan", "category", allowed=("Basic", "Pro")), ColumnSpec("note", "string"),
))


def _run(frame: pl.DataFrame) -> pl.DataFrame:
    return normalize(frame, CONTRACT, map_columns(frame.columns, CONTRACT))


def test_mapping_by_alias_spelling_and_similarity() -> None:
    mapping = map_columns(["id number", "X", "OK", "at", "dayy", "plan", "extra"], CONTRACT)
    assert mapping.matched == {"id number": "id", "X": "x", "OK": "ok", "at": "at",
                               "plan": "plan"}
    assert mapping.similar == (("dayy", "day"),)
    assert mapping.new == ("extra",) and mapping.missing == ("note",)


def test_text_is_cast_and_failures_are_flagged() -> None:
    frame = pl.DataFrame({
        "id": ["1", " 2 ", "3.0", "x", "NA"], "x": ["1.5", "1e3", "inf", "", "nan"],
        "ok": ["true", "No", "1", "maybe", None],
        "at": ["2024-01-01T10:00:00+02:00", "2024-01-01 10:00", "2024-01-01T10:00:00Z",
               "bad", "2024-01-01"],
        "day": ["31/12/2024", "2024-12-31", "2024-02-30", "", "1/1/2024"],
        "plan": ["basic", " PRO ", "gold", None, "Basic"], "note": ["a", "", " ", None, "b"],
    })
    out = _run(frame)
    assert out["id"].to_list() == [1, 2, 3, None, None]
    assert out[PARSE_FAIL + "id"].to_list() == [False, False, False, True, False]
    assert out["x"].to_list() == [1.5, 1000.0, None, None, None]
    assert out[PARSE_FAIL + "x"].to_list() == [False, False, True, False, False]
    assert out["ok"].to_list() == [True, False, True, None, None]
    assert out[PARSE_FAIL + "ok"].to_list() == [False, False, False, True, False]
    utc = dt.UTC
    assert out["at"].to_list()[:3] == [dt.datetime(2024, 1, 1, 8, tzinfo=utc),
                                       dt.datetime(2024, 1, 1, 10, tzinfo=utc),
                                       dt.datetime(2024, 1, 1, 10, tzinfo=utc)]
    assert out[PARSE_FAIL + "at"].to_list() == [False, False, False, True, False]
    assert out["day"].to_list()[:2] == [dt.date(2024, 12, 31)] * 2
    assert out[PARSE_FAIL + "day"].to_list() == [False, False, True, False, False]
    assert out["plan"].to_list() == ["Basic", "Pro", "gold", None, "Basic"]
    assert out["note"].to_list() == ["a", None, " ", None, "b"]
    assert out["__src__id"].to_list() == ["1", " 2 ", "3.0", "x", "NA"]


def test_typed_columns_are_cast() -> None:
    frame = pl.DataFrame({
        "id": [1.0, 2.5], "x": [1, 2], "ok": [1, 0],
        "at": [dt.datetime(2024, 1, 1, 12), dt.datetime(2024, 1, 2)],
        "day": [dt.datetime(2024, 1, 1, 23, tzinfo=dt.UTC)] * 2,
        "plan": ["Basic", "pro"], "note": [None, "n"],
    })
    out = _run(frame)
    assert out["id"].to_list() == [1, None] and out[PARSE_FAIL + "id"].to_list() == [False, True]
    assert out["x"].dtype == pl.Float64 and out["ok"].to_list() == [True, False]
    assert out["at"].dtype == pl.Datetime("us", "UTC")
    assert out["day"].to_list() == [dt.date(2024, 1, 1)] * 2
    assert out["plan"].to_list() == ["Basic", "Pro"]


def test_normalize_is_linear_in_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """5,000 columns: the schema is read a constant number of times, not per column (a
    wide frame rebuilds its schema on every access, which made normalisation quadratic)."""
    from lockgate.data import ColumnSpec, Contract
    from lockgate.data.normalize import map_columns, normalize

    width = 5_000
    contract = Contract("wide", "1", tuple(ColumnSpec(f"c{i}", "int") for i in range(width)))
    frame = pl.DataFrame({f"c{i}": ["1", "x" if i % 100 == 99 else "2"]
                          for i in range(width)})
    calls = [0]
    original = pl.DataFrame.schema

    def counted(self: pl.DataFrame) -> pl.Schema:
        calls[0] += 1
        return original.fget(self)  # type: ignore[attr-defined]

    monkeypatch.setattr(pl.DataFrame, "schema", property(counted))
    out = normalize(frame, contract, map_columns(frame.columns, contract))
    assert calls[0] <= 5
    assert out["c4999"].to_list() == [1, None] and out["__pf__c4999"].to_list() == [False, True]
    assert out["c0"].to_list() == [1, 2] and not out["__pf__c0"].any()
