"""What the door remembers across the chunks of one batch: the keys seen so far (primary
key and unique columns) and the feature groups with their labels, so that a duplicate
or a conflicting label is caught when its members fall in different chunks.

The memory this takes grows with the rows (about 20 bytes per row for a primary key,
20 more for conflict tracking), not with the width of the rows: it is the one part of
chunked ingestion that is not flat. A key of one integer column is kept exactly; other
keys as a 64-bit hash (two different keys share one with probability about n²/2⁶⁵:
3·10⁻⁴ at 100M rows; such a row would be quarantined as a duplicate, never lost).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

#: Hidden columns the door's checks read when present (see ``validation``).
CROSS_COPY = "__xcopy__"
CROSS_PREFIX = "__xseen__"


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


@dataclass(slots=True)
class KeyIndex:
    """Keys seen in earlier chunks, in sorted runs merged as they grow (a log-structured
    index: adding n keys costs O(n log n) in total, a lookup one binary search per run).

    Each key keeps the fingerprint of its first row's source values (to tell an exact
    copy, which is skipped, from a different row under the same key) and its chunk.
    """

    runs: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per key: found in an earlier chunk, that row's fingerprint, its chunk."""
        found = np.zeros(len(keys), bool)
        prints = np.zeros(len(keys), np.int64)
        chunks = np.full(len(keys), -1, np.int64)
        for run_keys, run_prints, run_chunks in self.runs:
            at = np.searchsorted(run_keys, keys)
            at[at == len(run_keys)] = 0
            hit = (run_keys[at] == keys) & ~found if len(run_keys) else found & False
            found |= hit
            prints[hit] = run_prints[at[hit]]
            chunks[hit] = run_chunks[at[hit]]
        return found, prints, chunks

    def add(self, keys: np.ndarray, prints: np.ndarray, chunk: int) -> None:
        """Remember new keys (not already in the index) from ``chunk``."""
        if not len(keys):
            return
        order = np.argsort(keys, kind="stable")
        self.runs.append((keys[order], prints[order],
                          np.full(len(keys), chunk, np.int64)))
        while len(self.runs) > 1 and len(self.runs[-2][0]) <= 2 * len(self.runs[-1][0]):
            b, a = self.runs.pop(), self.runs.pop()
            merged = [np.concatenate([x, y]) for x, y in zip(a, b, strict=True)]
            order = np.argsort(merged[0], kind="stable")
            self.runs.append((merged[0][order], merged[1][order], merged[2][order]))


@dataclass(slots=True)
class CrossChunk:
    """The cross-chunk state of one batch.

    Attributes:
        identities: name -> key columns (``primary_key`` and each unique column).
        quarantine_all: per identity, whether every member of a repeated key fails
            (``on_duplicate: quarantine``, unique columns) or only the later ones.
        retract: per chunk, per identity, key values whose earlier (accepted) row must
            leave the accepted rows at the end.
        groups: per chunk, the feature-group hash and label hash of its rows.
    """

    identities: dict[str, list[str]]
    quarantine_all: dict[str, bool]
    indexes: dict[str, KeyIndex] = field(default_factory=dict)
    retract: dict[int, dict[str, set[int]]] = field(default_factory=dict)
    groups: list[tuple[int, np.ndarray, np.ndarray]] = field(default_factory=list)

    def mark(self, frame: pl.DataFrame, raw_cols: list[str], chunk: int) -> pl.DataFrame:
        """Add the hidden columns the door reads: ``__xcopy__`` (an exact copy of a row of
        an earlier chunk) and ``__xseen__<identity>`` (its key came in an earlier chunk
        with other values); then remember this chunk's keys."""
        if not self.identities or frame.is_empty():
            return frame
        prints = None
        copy = np.zeros(frame.height, bool)
        columns = []
        for name, keys in self.identities.items():
            values, present = key_values(frame, keys)
            index = self.indexes.setdefault(name, KeyIndex())
            found, earlier, chunks = index.lookup(values)
            found &= present
            if name == "primary_key":
                if prints is None:
                    prints = _fingerprints(frame, raw_cols)
                same = found & (earlier == prints)
                copy |= same
                seen = found & ~same
            else:
                seen = found
            if self.quarantine_all[name] and seen.any():
                for c, v in zip(chunks[seen].tolist(), values[seen].tolist(), strict=True):
                    self.retract.setdefault(c, {}).setdefault(name, set()).add(v)
            first = present & ~found & _first_distinct(values)
            index.add(values[first], (prints if prints is not None
                                      else np.zeros(len(values), np.int64))[first], chunk)
            columns.append(pl.Series(CROSS_PREFIX + name, seen))
        return frame.with_columns(pl.Series(CROSS_COPY, copy), *columns)

    def tracks(self, contract: object) -> bool:
        """Whether rows accepted now may have to leave later (keys or labels tracked)."""
        return bool(self.identities) or getattr(contract, "target", None) is not None

    def remember_groups(self, chunk: int, groups: np.ndarray, labels: np.ndarray) -> None:
        """Keep a chunk's (feature group, label) pairs for the conflict check."""
        if len(groups):
            self.groups.append((chunk, groups, labels))

    def conflicting_groups(self) -> dict[int, set[int]]:
        """Per chunk, the feature groups that carry two different labels across the
        batch (conflicts inside one chunk were already caught there)."""
        if not self.groups:
            return {}
        frame = pl.DataFrame({
            "chunk": np.concatenate([np.full(len(g), c, np.int64) for c, g, _ in self.groups]),
            "group": np.concatenate([g for _, g, _ in self.groups]),
            "label": np.concatenate([lab for _, _, lab in self.groups])})
        bad = frame.group_by("group").agg(pl.col("label").n_unique().alias("n"),
                                          pl.col("chunk").n_unique().alias("chunks"))
        bad = bad.filter((pl.col("n") > 1) & (pl.col("chunks") > 1)).select("group")
        if bad.is_empty():
            return {}
        hits = frame.join(bad, on="group", how="semi").select("chunk", "group").unique()
        out: dict[int, set[int]] = {}
        for c, g in hits.iter_rows():
            out.setdefault(int(c), set()).add(int(g))
        return out


def _fingerprints(frame: pl.DataFrame, raw_cols: list[str]) -> np.ndarray:
    if not raw_cols:
        return np.zeros(frame.height, np.int64)
    return frame.select(pl.struct(raw_cols).hash(seed=11)).to_series().to_numpy().view(np.int64)


def _first_distinct(values: np.ndarray) -> np.ndarray:
    out = np.zeros(len(values), bool)
    _, first = np.unique(values, return_index=True)
    out[first] = True
    return out
