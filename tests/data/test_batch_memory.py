"""The cross-chunk state of a batch read in chunks (keys seen, label groups) stays
bounded whatever the length of the batch (#21: 100M rows in bounded memory), and still
finds every repeat across chunks.

Measured with ``tracemalloc``, which sees every numpy buffer: the key index and the
label groups used to be numpy arrays kept for the whole batch (~20 bytes per row and
identity; through ``ingest`` on 16 kB chunks the traced peak went from 6.3 MB at 50k
rows to 18.6 MB at 200k). The peak of traced memory over a whole batch (every chunk
remembered, then the repeats resolved) must not grow by half for 4x the rows. Nothing
here is timed. Each batch is measured in a fresh spawned process: tracemalloc counts the
allocations of every thread, and in a long test session other tests' server and
heartbeat threads would be counted too.
"""

from __future__ import annotations

import multiprocessing
import tracemalloc
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl

from lockgate.data import batch_index
from lockgate.data.batch_index import CrossChunk

CHUNK = 5_000


def _chunk(number: int, text: bool) -> pl.DataFrame:
    ids = np.arange(number * CHUNK, (number + 1) * CHUNK)
    if number % 10 == 9:  # a repeat of an earlier chunk's key with other values, a copy
        ids[0], ids[1] = (number - 5) * CHUNK, (number - 7) * CHUNK + 3
    keys = pl.Series("id", ids)
    frame = pl.DataFrame({"id": keys.cast(pl.String) + "-k" if text else keys,
                          "email": ("u" + keys.cast(pl.String)) if text else keys})
    raw = frame.select(pl.col("id").cast(pl.String).alias("__src__id"))
    if number % 10 == 9:  # the first one differs from the earlier row, the second not
        raw = raw.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("x"))
                               .otherwise(pl.col("__src__id")).alias("__src__id"))
    return pl.concat([frame, raw], how="horizontal")


def _batch(folder: Path, chunks: int, text: bool,
           spill: int) -> tuple[int, dict[int, int], dict[int, int]]:
    batch_index.SPILL_RECORDS = spill  # in the child: spills a few times
    identities = {"primary_key": ["id"], **({"email": ["email"]} if text else {})}
    cross = CrossChunk(identities, {n: n != "primary_key" for n in identities}, folder)
    tracemalloc.start()
    try:
        for number in range(chunks):
            frame = _chunk(number, text)
            cross.remember(frame, [pl.col("__src__id")], number)
            groups = np.arange(len(frame), dtype=np.int64) + number * CHUNK
            cross.remember_groups(number, groups, groups % 2)
        repeats = cross.repeats()
        assert cross.conflicting_groups() == {}
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    seen = {c: len(v["primary_key"]) for c, v in repeats.seen.items()}
    return peak, {c: len(v) for c, v in repeats.copies.items()}, seen


def _measured(folder: Path, chunks: int, text: bool) -> tuple[int, dict[int, int],
                                                             dict[int, int]]:
    """One batch in a fresh process, after a small one that pays one-time allocations."""
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        pool.submit(_batch, folder / "warm", 10, text, 50_000).result()
        return pool.submit(_batch, folder / "measured", chunks, text, 50_000).result()


def test_cross_chunk_state_does_not_grow_with_the_rows(tmp_path: Path) -> None:
    for text in (False, True):
        small, _, _ = _measured(tmp_path / f"s{text}", 40, text)
        large, copies, seen = _measured(tmp_path / f"l{text}", 160, text)
        assert large < 1.5 * small, (text, small, large)
        assert copies == dict.fromkeys(range(9, 160, 10), 1)  # every repeat still found
        assert seen == dict.fromkeys(range(9, 160, 10), 1)
