"""The door's checks against an existing table (#21): the landed keys and label groups
are probed from an index on disk, so a later batch against a big table still finds
every duplicate, copy, taken unique value and conflicting label, with exact accounting,
while the memory it needs does not grow with the landed rows."""

from __future__ import annotations

import multiprocessing
import resource
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from lockgate.config import Settings
from lockgate.data import ColumnSpec, Contract, ingest, landed_index, read
from lockgate.data.ingestion import IngestOptions


def _contract(key: str) -> Contract:
    return Contract(table=f"big_{key}", version="1", columns=(
        ColumnSpec("id", key, nullable=False), ColumnSpec("email", "string", unique=True,
                                                             feature=False),
        ColumnSpec("x", "float"), ColumnSpec("label", "int")),
        primary_key=("id",), target="label")


def _rows(start: int, n: int, key: str) -> pl.DataFrame:
    ids = pl.Series("id", np.arange(start, start + n))
    return pl.DataFrame({"id": ids if key == "int" else "k" + ids.cast(pl.String),
                         "email": "u" + ids.cast(pl.String) + "@x.org",
                         "x": (ids * 10).cast(pl.Float64), "label": ids % 2})


@pytest.mark.parametrize("key", ["int", "string"])
@pytest.mark.parametrize("chunked", [False, True])
def test_later_batches_against_a_big_table_find_every_repeat(
        settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str,
        chunked: bool) -> None:
    # partitions of ~64 keys: the 6,000 landed rows spread over 128 of them
    monkeypatch.setattr(landed_index, "PARTITION_RECORDS", 64)
    contract = _contract(key)
    table = contract.table

    def land(frame: pl.DataFrame, name: str) -> Any:
        if not chunked:
            return ingest(frame, table, contract, settings=settings)
        path = tmp_path / f"{name}.csv"
        frame.write_csv(path)
        return ingest(path, table, contract, settings=settings,
                      options=IngestOptions(chunk_bytes=8_000))

    first = land(_rows(0, 6000, key), "first")
    assert first.accepted == 6000
    landed = _rows(0, 6000, key)
    second = pl.concat([
        _rows(6000, 500, key),                                  # new rows
        landed[[10, 2500, 5999]],                               # exact copies: skipped
        landed[[20, 3000]].with_columns(pl.col("x") + 1),       # same id, other values
        _rows(7000, 1, key).with_columns(email=pl.lit(landed["email"][40])),  # email taken
        _rows(7001, 1, key).with_columns(x=pl.lit(landed["x"][51]),  # row 51's features,
                                         label=pl.lit(1 - landed["label"][51])),  # other label
    ], how="vertical_relaxed")
    result = land(second, "second")
    assert result.deduplicated == 3
    # the two rows under a landed id also repeat its email
    assert result.reasons == {"duplicate:id": 2, "unique:email": 3, "conflict:label": 1}
    assert (result.ingested, result.accepted, result.quarantined) == (504, 500, 4)
    # the 3rd batch repeats the 2nd's keys: the index was extended or rebuilt
    third = pl.concat([_rows(6000, 2, key).with_columns(pl.col("x") - 1),
                       _rows(6400, 1, key), _rows(8000, 10, key)], how="vertical_relaxed")
    result = land(third, "third")
    assert result.reasons == {"duplicate:id": 2, "unique:email": 2}
    assert result.deduplicated == 1
    assert (result.ingested, result.accepted, result.quarantined) == (12, 10, 2)
    assert read(table, settings=settings).height == 6000 + 500 + 10


def _write_table(folder: Path, rows: int) -> None:
    from lockgate.data import table as delta

    path = folder / "data" / "big_int"
    for start in range(0, rows, 50_000):
        delta.commit(path, _rows(start, 50_000, "int"), {"batch_id": f"b{start}"})


def _screen_growth(folder: Path, rows: int) -> int:
    """In a fresh process: peak RSS added by the door's screening of a 2,000-row chunk
    (repeating landed keys and groups) against a table of ``rows`` landed rows, beyond
    the same screening against a small table first (imports, one-time allocations)."""
    from lockgate.data import table as delta
    from lockgate.data.ingestion import screen
    from lockgate.data.source import Batch

    contract = _contract("int")
    warm, measured = Settings(home=folder / "warm"), Settings(home=folder)
    chunk = pl.concat([_rows(rows - 1000, 1000, "int").with_columns(pl.col("x") + 0.5),
                       _rows(rows, 1000, "int")])
    outcome = None
    for settings in (warm, measured):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        landed = delta.open_table(delta.table_path(settings, contract.table))
        outcome = screen(Batch(chunk, "chunk", ""), contract, settings, landed=landed).outcome
    assert outcome is not None and outcome.reasons["duplicate:id"] == 1000
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024


def test_the_door_needs_no_memory_per_landed_key(tmp_path: Path) -> None:
    """400k vs 1.6M landed rows: the screening's extra peak RSS for the 1.2M extra rows
    must stay under 24 bytes a row, allocator noise included (measured: ~9 B/row; the
    whole-table read of every key, email and label group took ~500 B/row here, 2 GB of
    keys alone at 100M rows). Nothing is timed."""
    spawn = multiprocessing.get_context("spawn")
    sizes = (400_000, 1_600_000)
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        pool.submit(_write_table, tmp_path / "warm", 50_000).result()
        for rows in sizes:
            pool.submit(_write_table, tmp_path / f"t{rows}", rows).result()
    growth = {}
    for rows in sizes:
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            # the warm table is read first, in the same process
            (tmp_path / f"t{rows}" / "warm").symlink_to(tmp_path / "warm")
            growth[rows] = pool.submit(_screen_growth, tmp_path / f"t{rows}", rows).result()
    assert growth[sizes[1]] - growth[sizes[0]] < (sizes[1] - sizes[0]) * 24, growth
