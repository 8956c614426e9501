"""The batch statistics stored with a dataset version describe exactly the rows the
batch ingested (#21): copies of earlier rows, skipped by the door (within a chunk,
across chunks, of a landed row), leave no trace in the counts, moments, quantiles,
null shares or category counts, whether the batch was read whole or in chunks; and the
quality profile merged from the chunks describes exactly the accepted rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from lockgate.cli.ingest import ChunkProfiles
from lockgate.config import Settings
from lockgate.data import ColumnSpec, Contract, ingest, read
from lockgate.data.ingestion import IngestOptions
from lockgate.quality import profile


def _contract(table: str) -> Contract:
    return Contract(table=table, version="1", columns=(
        ColumnSpec("id", "int", nullable=False), ColumnSpec("amount", "float", min=0),
        ColumnSpec("kind", "category"), ColumnSpec("note", "string")),
        primary_key=("id",))


def _rows(start: int, n: int) -> pl.DataFrame:
    ids = pl.int_range(start, start + n, eager=True).alias("id")
    return pl.DataFrame([ids]).with_columns(
        amount=pl.when(pl.col("id") % 97 == 0).then(-1.0)   # out of range: quarantined
        .otherwise((pl.col("id") * 7 % 1000).cast(pl.Float64) / 10),
        kind=pl.when(pl.col("id") % 3 == 0).then(pl.lit("a")).otherwise(pl.lit("b")),
        note=pl.when(pl.col("id") % 5 == 0).then(None).otherwise(pl.lit("n")))


def _land(settings: Settings, tmp_path: Path, frame: pl.DataFrame, table: str,
          chunked: bool, profiles: ChunkProfiles | None = None) -> Any:
    contract = _contract(table)
    if not chunked:
        return ingest(frame, table, contract, settings=settings)
    path = tmp_path / f"{table}-{frame.height}.csv"
    frame.write_csv(path)
    return ingest(path, table, contract, settings=settings,
                  options=IngestOptions(chunk_bytes=12_000),
                  observe=None if profiles is None else profiles.add)


def _stats(result: Any) -> dict[str, dict[str, Any]]:
    return result.dataset_version.details["stats"]


def _same(got: dict[str, dict[str, Any]], want: dict[str, dict[str, Any]]) -> None:
    assert got.keys() == want.keys()
    for name, stats in want.items():
        assert got[name].keys() == stats.keys(), name
        for stat, value in stats.items():
            assert got[name][stat] == (pytest.approx(value, rel=1e-9)
                                       if isinstance(value, float) else value), (name, stat)


@pytest.mark.parametrize("chunked", [True, False])
def test_copies_leave_no_trace_in_the_batch_statistics(settings: Settings, tmp_path: Path,
                                                       chunked: bool) -> None:
    base = _rows(0, 3000)
    # an accepted row and a quarantined one (id 97) of early chunks, again at the end
    # (other chunks), and a copy of the row just before (the same chunk)
    copies = pl.concat([base, base[[5, 6, 97, 2999]]])
    alone = _land(settings, tmp_path, base, "alone", chunked)
    profiles = ChunkProfiles(_contract("copied"))
    copied = _land(settings, tmp_path, copies, "copied", chunked, profiles)
    if chunked:
        assert copied.chunks >= 5
    assert copied.deduplicated == 4
    assert (copied.ingested, copied.accepted, copied.quarantined) == \
        (alone.ingested, alone.accepted, alone.quarantined) == (3000, 2969, 31)
    _same(_stats(copied), _stats(alone))
    if chunked:  # the profile merged from the chunks: exactly the accepted rows
        merged = profiles.merged()
        accepted = profile(read("copied", settings=settings), contract=_contract("copied"))
        assert merged is not None and merged.rows == accepted.rows == 2969
        assert merged["amount"].mean == pytest.approx(accepted["amount"].mean, rel=1e-12)
        assert merged["kind"].categories == accepted["kind"].categories
    # a later batch: new rows, plus copies of two landed rows (skipped)
    later = _rows(3000, 1000)
    fresh = _land(settings, tmp_path, later, "alone", chunked)
    again = _land(settings, tmp_path, pl.concat([base[[10]], later, base[[11]]]), "copied",
                  chunked)
    assert again.deduplicated == 2
    assert (again.ingested, again.accepted, again.reasons) == \
        (fresh.ingested, fresh.accepted, fresh.reasons)
    _same(_stats(again), _stats(fresh))


def test_a_full_sample_keeps_the_smallest_keys_of_the_whole_batch(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows whose key is above a full sample's largest are left out before the merge
    (most rows of a long batch): the sample is still the smallest keys of every row."""
    import numpy as np

    from lockgate.data import statistics

    monkeypatch.setattr(statistics, "SAMPLE_ROWS", 100)
    contract = _contract("s")
    stats = statistics.BatchStats(contract, seed=3)
    drawn = np.random.default_rng(3)
    keys = []
    for chunk in range(8):
        frame = _rows(chunk * 1000, 1000).select(contract.column_names)
        stats.add(frame, chunk)
        keys.append(drawn.random(1000))
    expected = np.sort(np.concatenate(keys))[:100]
    sample = stats._sample
    assert sample is not None
    assert np.array_equal(np.sort(sample["__key__"].to_numpy()), expected)
