"""What the door remembers across the chunks of one batch: the keys seen (primary key and
unique columns) and the feature groups with their labels, so that a duplicate or a
conflicting label is caught when its members fall in different chunks.

Nothing of it stays in memory: each chunk's keys (with the fingerprint of the row's
source values, its chunk and its position) and (group, label) pairs are appended to
files partitioned by a hash of the key, and the repeats are found at the end of the
batch one partition at a time (sort, then compare neighbours). Memory is then one
partition, about 1/256 of the batch's keys, instead of ~20 bytes per row and identity
for the whole batch, and the cost is one sort of the keys, whatever their order (a
monotonic id and a random text key cost the same). A key of one integer column is
kept exactly; other keys as a 64-bit hash (two different keys share one with
probability about n²/2⁶⁵: 3·10⁻⁴ at 100M rows; such a row would be quarantined as a
duplicate, never lost).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl


def key_values(frame: pl.DataFrame, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The key of each row as int64 (exact for one integer column, else a hash) and
    whether it is complete (no null part)."""
    if all(frame[n].null_count() == 0 for n in names):
        mask = np.ones(frame.height, bool)
    else:
        present = frame.select(pl.all_horizontal([pl.col(n).is_not_null() for n in names]))
        mask = present.to_series().to_numpy()
    if len(names) == 1 and frame.schema[names[0]].is_integer():
        column = frame[names[0]]
        values = (column if column.null_count() == 0 else column.fill_null(0)) \
            .cast(pl.Int64).to_numpy()
    else:
        expr = pl.col(names[0]) if len(names) == 1 else pl.struct(names)
        values = frame.select(expr.hash(seed=3)).to_series().to_numpy().view(np.int64)
    return np.ascontiguousarray(values), mask


#: Partitions of the spilled keys: the end of a batch holds one in memory at a time.
PARTITIONS = 256
_KEYS = np.dtype([("key", "<i8"), ("print", "<i8"), ("chunk", "<i4"), ("pos", "<i4")])
_GROUPS = np.dtype([("key", "<i8"), ("label", "<i8"), ("chunk", "<i4")])
_SPREAD_INT = 0x9E3779B97F4A7C15
_SPREAD = np.uint64(_SPREAD_INT)  # Fibonacci hashing: top bits pick a partition


#: Records a spill holds in memory before it appends them to its partition files (about
#: 24 MB): few file appends per batch, memory independent of the batch's length.
SPILL_RECORDS = 1 << 20


@dataclass(slots=True)
class Spill:
    """Records appended to :data:`PARTITIONS` files by a hash of their ``key`` field
    (buffered up to :data:`SPILL_RECORDS`), read back one partition at a time."""

    folder: Path
    dtype: np.dtype
    buffer: list[np.ndarray] = field(default_factory=list)
    buffered: int = 0
    #: log2 of the partitions (8: :data:`PARTITIONS`); fewer for a small index.
    bits: int = 8
    #: Records buffered before a flush (0: :data:`SPILL_RECORDS`).
    limit: int = 0
    written: bool = False  # some records are in the partition files

    def append(self, records: np.ndarray) -> None:
        """Add records (a structured array of ``dtype``)."""
        if len(records):
            self.buffer.append(records)
            self.buffered += len(records)
        if self.buffered >= (self.limit or SPILL_RECORDS):
            self.flush()

    def flush(self) -> None:
        """Append the buffered records to their partition files."""
        if not self.buffer:
            return
        records, bounds = _partitioned(np.concatenate(self.buffer), self.bits)
        self.buffer, self.buffered = [], 0
        self.written = True
        self.folder.mkdir(parents=True, exist_ok=True)
        for p in np.flatnonzero(np.diff(bounds)):
            with self.file(int(p)).open("ab") as out:
                records[bounds[p]:bounds[p + 1]].tofile(out)

    def file(self, partition: int) -> Path:
        """The file of one partition."""
        return self.folder / f"{partition:03d}"

    def partitions(self) -> Iterator[np.ndarray]:
        """Each non-empty partition's records, in the order they were added. A spill
        that never outgrew its buffer is partitioned in memory: it never touches disk."""
        if not self.written:
            if self.buffer:
                records, bounds = _partitioned(np.concatenate(self.buffer), self.bits)
                self.buffer = [records]  # partitioned already: a second pass is the same
                for p in np.flatnonzero(np.diff(bounds)):
                    yield records[bounds[p]:bounds[p + 1]]
            return
        self.flush()
        for file in sorted(self.folder.iterdir()):
            yield np.fromfile(file, self.dtype)


def partition_of(keys: np.ndarray, bits: int) -> np.ndarray:
    """The partition (of ``2**bits``) of each int64 key: the top bits of its Fibonacci
    hash, so neighbouring keys (monotonic ids) spread evenly."""
    if bits == 0:
        return np.zeros(len(keys), np.uint64)
    return (keys.view(np.uint64) * _SPREAD) >> np.uint64(64 - bits)


def _partitioned(records: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Records grouped by partition (stable: in the order added) and each partition's
    bounds. A partition fits in one byte, so the stable sort is a radix sort, and the
    records move with ``np.take`` (fancy indexing copies a structured array field by
    field, several times slower)."""
    part = partition_of(records["key"], bits).astype(np.uint8)
    records = np.take(records, np.argsort(part, kind="stable"))
    bounds = np.zeros((1 << bits) + 1, np.int64)
    np.cumsum(np.bincount(part, minlength=1 << bits), out=bounds[1:])
    return records, bounds


@dataclass(frozen=True, slots=True)
class Repeats:
    """What the end of the batch found: rows of later chunks whose key came earlier.

    Attributes:
        copies: chunk -> positions of exact copies of an earlier chunk's row (skipped).
        seen: chunk -> identity -> positions of rows whose key an earlier chunk had with
            other values (quarantined as duplicates).
        retract: chunk -> identity -> key values whose first row must leave too
            (``on_duplicate: quarantine`` and unique columns: every member fails).
    """

    copies: dict[int, np.ndarray]
    seen: dict[int, dict[str, np.ndarray]]
    retract: dict[int, dict[str, set[int]]]

    def chunks(self) -> set[int]:
        return set(self.copies) | set(self.seen) | set(self.retract)


def _runs(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For records sorted by key: each one's group start, and whether it is a later
    member of its group (not the first)."""
    new = np.ones(len(key), bool)
    new[1:] = key[1:] != key[:-1]
    starts = np.flatnonzero(new)
    first = starts[np.cumsum(new) - 1]
    return first, ~new


def _by_chunk(chunks: np.ndarray, values: np.ndarray, out: dict[int, list[np.ndarray]]) -> None:
    for c in np.unique(chunks).tolist():
        out.setdefault(int(c), []).append(values[chunks == c])


def _joined(parts: dict[int, list[np.ndarray]]) -> dict[int, np.ndarray]:
    return {c: np.concatenate(v) for c, v in parts.items()}


@dataclass(slots=True)
class CrossChunk:
    """The cross-chunk state of one batch: everything it remembers is on disk under
    ``folder`` (see the module docstring).

    Attributes:
        identities: name -> key columns (``primary_key`` and each unique column).
        quarantine_all: per identity, whether every member of a repeated key fails
            (``on_duplicate: quarantine``, unique columns) or only the later ones.
        folder: where the keys and groups are spilled (the batch's scratch folder).
    """

    identities: dict[str, list[str]]
    quarantine_all: dict[str, bool]
    folder: Path
    spills: dict[str, Spill] = field(default_factory=dict)

    def remember(self, frame: pl.DataFrame, identity: list[pl.Expr], chunk: int) -> None:
        """Spill this chunk's keys: for each identity, the first row of each complete key
        in the chunk (repeats inside a chunk are the door's own check), with the
        fingerprint of its ``identity`` (``validation.copy_identity``; primary key: to tell
        an exact copy from a different row) and its position in the chunk."""
        if not self.identities or frame.is_empty():
            return
        prints = None
        for name, keys in self.identities.items():
            values, present = key_values(frame, keys)
            first = present & _first_distinct(values)
            if name == "primary_key":
                prints = _fingerprints(frame, identity)
            records = np.empty(int(first.sum()), _KEYS)
            records["key"] = values[first]
            records["print"] = prints[first] if name == "primary_key" and prints is not None \
                else 0
            records["chunk"] = chunk
            records["pos"] = np.flatnonzero(first)
            self._keys(name).append(records)

    def repeats(self) -> Repeats:
        """Keys of each identity found in more than one chunk (one partition in memory at
        a time). The primary key goes first: its exact copies leave the batch, so they do
        not count as repeats of a unique column."""
        copies: dict[int, list[np.ndarray]] = {}
        seen: dict[int, dict[str, np.ndarray]] = {}
        retract: dict[int, dict[str, set[int]]] = {}
        copy_codes = np.zeros(0, np.int64)
        for name in self.identities:
            later_by_chunk: dict[int, list[np.ndarray]] = {}
            for records in self._keys(name).partitions():
                if name != "primary_key" and len(copy_codes):
                    codes = (records["chunk"].astype(np.int64) << 32) | records["pos"]
                    records = np.compress(~np.isin(codes, copy_codes), records)
                records = np.take(records, np.lexsort((records["chunk"], records["key"])))
                first, later = _runs(records["key"])
                if not later.any():
                    continue
                copy = later & (records["print"] == records["print"][first]) \
                    if name == "primary_key" else np.zeros(len(records), bool)
                other = later & ~copy
                _by_chunk(records["chunk"][copy], records["pos"][copy], copies)
                _by_chunk(records["chunk"][other], records["pos"][other], later_by_chunk)
                if self.quarantine_all[name] and other.any():
                    heads = records[np.unique(first[other])]
                    for c, v in zip(heads["chunk"].tolist(), heads["key"].tolist(),
                                    strict=True):
                        retract.setdefault(c, {}).setdefault(name, set()).add(v)
            for c, positions in _joined(later_by_chunk).items():
                seen.setdefault(c, {})[name] = positions
            if name == "primary_key" and copies:
                copy_codes = np.concatenate([
                    (np.int64(c) << 32) | p.astype(np.int64) for c, p in _joined(copies).items()])
        return Repeats(_joined(copies), seen, retract)

    def tracks(self, contract: object) -> bool:
        """Whether rows accepted now may have to leave later (keys or labels tracked)."""
        return bool(self.identities) or getattr(contract, "target", None) is not None

    def remember_groups(self, chunk: int, groups: np.ndarray, labels: np.ndarray) -> None:
        """Spill a chunk's (feature group, label) pairs for the conflict check."""
        if len(groups):
            records = np.empty(len(groups), _GROUPS)
            records["key"], records["label"], records["chunk"] = groups, labels, chunk
            self._groups().append(records)

    def conflicting_groups(self) -> dict[int, set[int]]:
        """Per chunk, the feature groups that carry two different labels across the
        batch (conflicts inside one chunk were already caught there), one partition of
        groups in memory at a time."""
        out: dict[int, set[int]] = {}
        for records in self._groups().partitions():
            frame = pl.DataFrame({"chunk": records["chunk"], "group": records["key"],
                                  "label": records["label"]})
            bad = frame.group_by("group").agg(pl.col("label").n_unique().alias("n"),
                                              pl.col("chunk").n_unique().alias("chunks"))
            bad = bad.filter((pl.col("n") > 1) & (pl.col("chunks") > 1)).select("group")
            if bad.is_empty():
                continue
            hits = frame.join(bad, on="group", how="semi").select("chunk", "group").unique()
            for c, g in hits.iter_rows():
                out.setdefault(int(c), set()).add(int(g))
        return out

    def _keys(self, name: str) -> Spill:
        if name not in self.spills:
            self.spills[name] = Spill(self.folder / f"keys-{name}", _KEYS)
        return self.spills[name]

    def _groups(self) -> Spill:
        if "" not in self.spills:  # no identity has an empty name
            self.spills[""] = Spill(self.folder / "groups", _GROUPS)
        return self.spills[""]


def _fingerprints(frame: pl.DataFrame, values: list[pl.Expr]) -> np.ndarray:
    """A 64-bit hash of each row's ``values``: each hashed with a seed of its own,
    folded by multiply-xor (a bijection per step, so no structure is added). Two to
    three times cheaper than hashing a struct of the columns, whose cost also grew with
    the chunk's number of Arrow chunks. Only compared within one batch: never stored."""
    if not values:
        return np.zeros(frame.height, np.int64)
    folded = values[0].hash(seed=11)
    for seed, value in enumerate(values[1:], start=12):
        folded = (folded * pl.lit(_SPREAD_INT, pl.UInt64)) ^ value.hash(seed=seed)
    return frame.select(folded).to_series().to_numpy().view(np.int64)


def _first_distinct(values: np.ndarray) -> np.ndarray:
    ordered = np.sort(values)
    if not (ordered[1:] == ordered[:-1]).any():  # the usual chunk: no key repeats in it
        return np.ones(len(values), bool)
    out = np.zeros(len(values), bool)
    _, first = np.unique(values, return_index=True)
    out[first] = True
    return out
