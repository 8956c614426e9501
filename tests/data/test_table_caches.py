"""The process-global caches of ingestion are bounded (issue #14): a worker that ingests
into many tables keeps the newest ``CACHED_TABLES`` of them, not all."""

from __future__ import annotations

import polars as pl
import pytest

from lockgate.config import Settings
from lockgate.data import ColumnSpec, Contract, ingest, ingestion, landed_index, read
from lockgate.lru import LruCache


def test_lru_keeps_the_newest_entries() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache["a"], cache["b"] = 1, 2
    assert cache.get("a") == 1  # "a" is now the newest
    cache["c"] = 3
    assert cache.ordered_keys() == ["a", "c"] and len(cache) == 2
    assert cache.get("b") is None and cache.pop("a") == 1 and "a" not in cache
    with pytest.raises(ValueError, match="at least 1"):
        LruCache(0)


def test_every_table_cache_has_a_bound() -> None:
    for cache in (landed_index._INDEXES, ingestion._STATS):
        assert isinstance(cache, LruCache) and cache.maxsize == 32


def test_ingesting_more_tables_than_the_bound(settings: Settings,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Three keyed, labelled tables through caches of two: two stay cached, and the one
    that fell out is re-read, so its duplicates and label conflicts are still found."""
    for module, name in ((landed_index, "_INDEXES"), (ingestion, "_STATS")):
        monkeypatch.setattr(module, name, LruCache(2))
    tables = ["t0", "t1", "t2"]
    for table in tables:
        ingest(_frame((1, 1.0, 0), (2, 2.0, 1)), table, _contract(table), settings=settings)
        ingest(_frame((3, 3.0, 0)), table, settings=settings)
    for cache in (landed_index._INDEXES, ingestion._STATS):
        assert len(cache) == 2
    assert not any("t0" in key for key in landed_index._INDEXES.ordered_keys())
    # id 1 again with other values; id 4 has landed row 1's features with another label
    again = ingest(_frame((1, 9.0, 0), (4, 1.0, 1)), "t0", settings=settings)
    assert again.reasons == {"duplicate:id": 1, "conflict:label": 1}
    assert sorted(read("t0", settings=settings)["id"]) == [1, 2, 3]
    assert any("t0" in key for key in landed_index._INDEXES.ordered_keys())


def _contract(table: str) -> Contract:
    return Contract(table=table, version="1", columns=(
        ColumnSpec("id", "int", nullable=False), ColumnSpec("x", "float"),
        ColumnSpec("label", "int")), primary_key=("id",), target="label")


def _frame(*rows: tuple[int, float, int]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=["id", "x", "label"], orient="row")
