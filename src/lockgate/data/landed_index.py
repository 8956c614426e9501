"""The keys and label groups already landed in a table, which the door checks each batch
against, in memory bounded whatever the table's length (#21).

A chunk only needs the landed keys it repeats (a duplicate of a landed key, a copy of a
landed row, a unique value already taken) and the landed labels of its own feature
groups. Holding every landed key in memory costs 8-20 bytes per landed row (about 2 GB
at 100M rows), so instead, once per table version, the table is read file by file and
its keys (as ``batch_index.key_values``: exact for one integer column, else a 64-bit
hash) are spilled to hash partitions on local disk, each partition then sorted. A chunk
is probed one partition at a time (binary search), so memory is one partition: at most
:data:`PARTITION_RECORDS`-ish keys for a small table, 1/256 of the landed keys for a large
one. A hashed key shared by two different values (probability about n²/2⁶⁵) reads as
landed: the row is quarantined as a duplicate, never lost. The label groups are kept
the same way, as (group hash, label hash, newest version that landed the pair).

A process keeps the index of its :data:`CACHED_TABLES` most recent tables (each one's
folder goes with it) and, after a commit of its own, extends it with the rows it landed
instead of reading the table again (a stream's micro-batches); those stay in memory up
to :data:`TAIL_RECORDS`, then are folded into the partitions.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute  # pa.compute: the add actions' row counts
from deltalake import DeltaTable

from lockgate.data import table as delta
from lockgate.data.batch_index import Spill, key_values, partition_of
from lockgate.data.contract import Contract
from lockgate.data.validation import conflict_features, group_hash, group_label
from lockgate.location import StoragePath
from lockgate.lru import LruCache

#: Tables whose index a process keeps; past the bound the least recently used table's
#: goes (with its folder) and is rebuilt on its next batch.
CACHED_TABLES = 32
#: About this many keys per partition: a table of up to this many rows has one.
PARTITION_RECORDS = 1 << 18
#: Keys of the process's own commits kept in memory before they join the partitions.
TAIL_RECORDS = 1 << 20
#: Records a build buffers before it appends them to the partition files (at most 6 MB).
BUILD_BUFFER = 1 << 18
_KEY = np.dtype([("key", "<i8")])
_PAIR = np.dtype([("key", "<i8"), ("label", "<i8"), ("version", "<i8")])
#: Columns of the landed groups handed to ``label_conflicts``.
GROUP, LABEL, VERSION = "__g__", "__l__", "__v__"


def label_hash(contract: Contract) -> pl.Expr:
    """A row's label as the index keeps it (the text of the target, hashed)."""
    return group_label(contract).hash(seed=5)


@dataclass(slots=True)
class _Sorted:
    """Records spilled to sorted partitions, plus those added since (in memory)."""

    spill: Spill
    tail: list[np.ndarray] = field(default_factory=list)

    def sort(self) -> None:
        """Sort each partition once, by key (and label), without repeats."""
        self.spill.flush()
        for part in range(1 << self.spill.bits):
            file = self.spill.file(part)
            if file.exists():
                records = np.fromfile(file, self.spill.dtype)
                _sorted_unique(records).tofile(file)

    def add(self, records: np.ndarray) -> None:
        self.tail.append(records)
        if sum(len(t) for t in self.tail) > TAIL_RECORDS:
            self.spill.append(np.concatenate(self.tail))
            self.tail = []
            self.sort()

    def probe(self, keys: np.ndarray) -> np.ndarray:
        """The records whose key is among ``keys`` (one partition in memory at a time)."""
        found = [t[np.isin(t["key"], keys)] for t in self.tail]
        parts = partition_of(keys, self.spill.bits)
        order = np.argsort(parts, kind="stable")
        keys, parts = keys[order], parts[order]
        bounds = np.searchsorted(parts, np.arange((1 << self.spill.bits) + 1, dtype=np.uint64))
        for part in np.flatnonzero(np.diff(bounds)).tolist():
            file = self.spill.file(part)
            if not file.exists():
                continue
            records = np.fromfile(file, self.spill.dtype)
            wanted = np.unique(keys[bounds[part]:bounds[part + 1]])
            low = np.searchsorted(records["key"], wanted, side="left")
            high = np.searchsorted(records["key"], wanted, side="right")
            hits = np.flatnonzero(high > low)
            if len(hits):
                found.append(np.concatenate([records[a:b] for a, b in
                                             zip(low[hits], high[hits], strict=True)]))
        return np.concatenate(found) if found else np.empty(0, self.spill.dtype)


class LandedIndex:
    """The keys (per identity: primary key, event id, each unique column) and label
    groups of one table version, on disk under a folder of its own (removed with it).

    Attributes:
        version: the Delta version it describes.
        identities: name -> key columns (those present in the table).
        groups: the contract's feature columns and target, when labels are tracked.
    """

    def __init__(self, version: int, identities: dict[str, tuple[str, ...]],
                 groups: tuple[str, ...] | None, rows: int) -> None:
        self.version = version
        self.identities = identities
        self.groups = groups
        self.folder = Path(tempfile.mkdtemp(prefix="lockgate-landed-"))
        weakref.finalize(self, shutil.rmtree, self.folder, True)
        bits = min(8, max(0, math.ceil(math.log2(max(rows, 1) / PARTITION_RECORDS))))
        self._keys = {name: _Sorted(Spill(self.folder / f"k{i}", _KEY, bits=bits,
                                          limit=BUILD_BUFFER))
                      for i, name in enumerate(identities)}
        self._pairs = _Sorted(Spill(self.folder / "groups", _PAIR, bits=bits,
                                    limit=BUILD_BUFFER))

    @classmethod
    def build(cls, path: StoragePath, table: DeltaTable,
              identities: dict[str, tuple[str, ...]], contract: Contract) -> LandedIndex:
        """Read the table as of its loaded version, file by file, into a new index."""
        schema = pa.schema(table.schema().to_arrow())
        names = set(schema.names)
        present = {n: k for n, k in identities.items() if set(k) <= names}
        features = conflict_features(contract)
        groups = (*features, contract.target) if features is not None and \
            contract.target is not None and {*features, contract.target} <= names else None
        actions = pa.table(table.get_add_actions(flatten=True))
        index = cls(table.version(), present, groups,
                    int(pa.compute.sum(actions["num_records"]).as_py() or 0))
        landed_in = _file_versions(path) if groups is not None else {}
        columns = list(dict.fromkeys([c for k in present.values() for c in k]
                                     + list(groups or ())))
        for uri in table.file_uris():
            if columns:
                index._add(delta.read_file(uri, schema, columns), contract,
                           landed_in.get(uri.rsplit("/", 1)[-1], -1), spill=True)
        for part in (*index._keys.values(), index._pairs):
            part.sort()
        return index

    def extend(self, version: int, rows: pl.DataFrame, contract: Contract) -> None:
        """After this process's own commit of ``rows`` as ``version``."""
        if all(c in rows.columns for k in self.identities.values() for c in k) and \
                (self.groups is None or set(self.groups) <= set(rows.columns)):
            self._add(rows, contract, version, spill=False)
            self.version = version
        else:
            self.version = -1  # a column it cannot extend: rebuilt on next use

    def keys(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The landed keys ``frame`` repeats, one row per (identity, key value), its key
        columns set (the others null): what the door's checks compare against."""
        found = []
        for name, names in self.identities.items():
            if not all(c in frame.columns for c in names):
                continue
            values, present = key_values(frame, list(names))
            landed = self._keys[name].probe(values[present])["key"]
            hit = present & np.isin(values, landed)
            if hit.any():
                found.append(frame.filter(pl.Series(hit)).select(names).unique())
        columns = list(dict.fromkeys(c for k in self.identities.values() for c in k))
        if not found:
            return frame.select([c for c in columns if c in frame.columns]).head(0)
        return pl.concat(found, how="diagonal_relaxed")

    def landed_groups(self, frame: pl.DataFrame, contract: Contract) -> pl.DataFrame | None:
        """Per (feature group of ``frame``, landed label): the newest version that landed
        it (columns :data:`GROUP`, :data:`LABEL` hashed as :func:`label_hash`,
        :data:`VERSION`); None when labels are not tracked."""
        features = conflict_features(contract)
        if self.groups is None or features is None or frame.is_empty():
            return None
        wanted = frame.select(group_hash(features)).to_series().to_numpy().view(np.int64)
        pairs = self._pairs.probe(wanted)
        return pl.DataFrame({GROUP: pairs["key"], LABEL: pairs["label"],
                             VERSION: pairs["version"]}).group_by(GROUP, LABEL).agg(
            pl.col(VERSION).max())

    def _add(self, frame: pl.DataFrame, contract: Contract, version: int, *,
             spill: bool) -> None:
        for name, names in self.identities.items():
            values, present = key_values(frame, list(names))
            records = np.empty(int(present.sum()), _KEY)
            records["key"] = values[present]
            self._put(self._keys[name], records, spill)
        features = conflict_features(contract)
        if self.groups is not None and features is not None and contract.target:
            labelled = frame.filter(pl.col(contract.target).is_not_null())
            pairs = labelled.select(group_hash(features).alias("g"),
                                    label_hash(contract).alias("l"))
            records = np.empty(pairs.height, _PAIR)
            records["key"] = pairs["g"].to_numpy().view(np.int64)
            records["label"] = pairs["l"].to_numpy().view(np.int64)
            records["version"] = version
            self._put(self._pairs, records, spill)

    @staticmethod
    def _put(part: _Sorted, records: np.ndarray, spill: bool) -> None:
        if spill:
            part.spill.append(records)
        elif len(records):
            part.add(records)


_INDEXES: LruCache[str, LandedIndex] = LruCache(CACHED_TABLES)


def landed_index(path: StoragePath, table: DeltaTable | None,
                 identities: dict[str, tuple[str, ...]],
                 contract: Contract) -> LandedIndex | None:
    """The index of the table at ``path`` as of ``table``'s version (None: no table yet),
    reused while the version and what it tracks are the same."""
    if table is None or (not _tracks(table, identities) and _groups(table, contract) is None):
        return None  # nothing to check against landed rows
    cached = _INDEXES.get(str(path))
    if cached is not None and cached.version == table.version() \
            and cached.identities == _tracks(table, identities) \
            and cached.groups == _groups(table, contract):
        return cached
    index = LandedIndex.build(path, table, identities, contract)
    _INDEXES[str(path)] = index
    return index


def remember(path: StoragePath, version: int, rows: pl.DataFrame, contract: Contract) -> None:
    """After this process committed ``rows`` as ``version``: extend the cached index
    when it described the version before, else drop it."""
    cached = _INDEXES.get(str(path))
    if cached is None or cached.version != version - 1:
        forget(path)
        return
    cached.extend(version, rows, contract)


def forget(path: StoragePath) -> None:
    """Drop the cached index of a table (its rows changed other than by an append)."""
    _INDEXES.pop(str(path), None)


def _tracks(table: DeltaTable, identities: dict[str, tuple[str, ...]]
            ) -> dict[str, tuple[str, ...]]:
    names = set(table.schema().to_arrow().names)
    return {n: k for n, k in identities.items() if set(k) <= names}


def _groups(table: DeltaTable, contract: Contract) -> tuple[str, ...] | None:
    features = conflict_features(contract)
    if features is None or contract.target is None:
        return None
    columns = (*features, contract.target)
    return columns if set(columns) <= set(table.schema().to_arrow().names) else None


def _sorted_unique(records: np.ndarray) -> np.ndarray:
    """Records sorted by key (then label); for groups one record per (key, label) with
    the newest version."""
    if "label" not in (records.dtype.names or ()):
        return np.unique(records)
    order = np.lexsort((-records["version"], records["label"], records["key"]))
    records = records[order]
    first = np.ones(len(records), bool)
    first[1:] = (records["key"][1:] != records["key"][:-1]) | \
        (records["label"][1:] != records["label"][:-1])
    return records[first]


def _log_entries(path: StoragePath) -> list[tuple[int, str]]:
    """``(version, text)`` of the Delta log's JSON commit files, local or on S3."""
    from lockgate.artifacts.object_store import object_store_for

    log = object_store_for(path / "_delta_log")  # the log alone, not the data files
    out = []
    for info in log.list():
        stem, _, suffix = info.key.rsplit("/", 1)[-1].partition(".")
        if suffix == "json" and stem.isdigit():
            out.append((int(stem), log.get(info.key).decode()))
    return sorted(out)


def _file_versions(path: StoragePath) -> dict[str, int]:
    """Data file name -> the version whose commit added it, from the Delta log's JSON
    entries (a file whose entry is gone reads as version -1)."""
    out: dict[str, int] = {}
    for version, text in _log_entries(path):
        for line in text.splitlines():
            if '"add"' in line:
                action = json.loads(line).get("add")
                if action:
                    out[action["path"].rsplit("/", 1)[-1]] = version
    return out
