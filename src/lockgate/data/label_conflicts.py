"""Conflicting labels against the rows already landed: a new row whose features equal a
landed row's and whose target differs is quarantined at the door, its reason naming the
version that landed the other row (``conflict:churned#1234567890@v3``). The landed row
stays (it landed under the rules of its day; the training gate still reports the pair).

The landed side is the feature-group hash, the label and the landing version of every
landed row, read once per table version and cached (its size grows with the table).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
from deltalake import DeltaTable

from lockgate.data.contract import Contract
from lockgate.data.normalize import PARSE_FAIL
from lockgate.data.validation import (
    LANDED_CONFLICT,
    LANDED_CONFLICT_VERSION,
    conflict_features,
    group_hash,
    group_label,
)
from lockgate.location import ObjectLocation, StoragePath, storage_options
from lockgate.lru import LruCache

#: Tables whose landed label groups (per Delta version) a process keeps; past the bound
#: the least recently used table's are dropped and rebuilt on its next batch.
CACHED_TABLES = 32
_GROUPS: LruCache[str, tuple[int, tuple[str, ...], pl.DataFrame]] = LruCache(CACHED_TABLES)
_GROUP, _LABEL, _VERSION = "__g__", "__l__", "__v__"


def landed_groups(path: StoragePath, contract: Contract,
                  table: DeltaTable | None) -> pl.DataFrame | None:
    """Per landed (feature group, label): the newest version that landed it; None when
    the contract has no target or the table lacks one of its columns."""
    features = conflict_features(contract)
    if features is None or table is None or contract.target is None:
        return None
    names = set(table.schema().to_arrow().names)
    columns = (*features, contract.target)
    if not set(columns) <= names:
        return None
    version = table.version()
    cached = _GROUPS.get(str(path))
    if cached is not None and cached[0] == version and cached[1] == columns:
        return cached[2]
    files: list[str] | list[Path] = (
        list(table.file_uris()) if isinstance(path, ObjectLocation)
        else [Path(uri.removeprefix("file://")) for uri in table.file_uris()])
    if not files:
        return None
    landed_in = _file_versions(path)
    frame = pl.scan_parquet(files, include_file_paths="__file__", missing_columns="insert",
                            storage_options=storage_options(path)).select(
        group_hash(features).alias(_GROUP), pl.col(contract.target).cast(pl.String)
        .alias(_LABEL), pl.col("__file__")).collect()
    versions = pl.DataFrame({"__file__": [str(path / f) for f in landed_in],
                             _VERSION: list(landed_in.values())},
                            schema={"__file__": pl.String, _VERSION: pl.Int64})
    grouped = (frame.with_columns(pl.col("__file__").str.replace("^file://", ""))
               .join(versions, on="__file__", how="left")
               .group_by(_GROUP, _LABEL).agg(pl.col(_VERSION).max()))
    _GROUPS[str(path)] = (version, columns, grouped)
    return grouped


def mark_landed_conflicts(frame: pl.DataFrame, contract: Contract,
                          landed: pl.DataFrame | None) -> pl.DataFrame:
    """Add ``__lconf__`` (the row's feature group landed with another label) and
    ``__lconf_v__`` (the newest version that landed such a row) to a normalised frame."""
    features = conflict_features(contract)
    if landed is None or landed.is_empty() or features is None or frame.is_empty():
        return frame
    parsed = ~pl.any_horizontal([pl.col(PARSE_FAIL + c)
                                 for c in (*features, contract.target or "")])
    rows = frame.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("__i__"),
                        group_hash(features).alias(_GROUP), group_label(contract).alias(_LABEL),
                        parsed.alias("__ok__"))
    rows = rows.filter(pl.col("__ok__") & pl.col(_LABEL).is_not_null())
    other = (rows.join(landed.rename({_LABEL: "__other__"}), on=_GROUP, how="inner")
             .filter(pl.col("__other__") != pl.col(_LABEL))
             .group_by("__i__").agg(pl.col(_VERSION).max()))
    flag = pl.Series(LANDED_CONFLICT, [False] * frame.height, pl.Boolean)
    version = pl.Series(LANDED_CONFLICT_VERSION, [None] * frame.height, pl.Int64)
    if not other.is_empty():
        index = other["__i__"]
        flag = flag.scatter(index, True)
        version = version.scatter(index, other[_VERSION].fill_null(-1))
    return frame.with_columns(flag, version)


def _log_entries(path: StoragePath) -> list[tuple[int, str]]:
    """``(version, text)`` of the Delta log's JSON commit files, local or on S3."""
    found: list[tuple[str, Any]] = []
    if isinstance(path, ObjectLocation):
        from lockgate.artifacts.object_store import S3ObjectStore

        log = S3ObjectStore(path / "_delta_log")
        found = [(i.key, i.key) for i in log.list() if "/" not in i.key]
        read = lambda key: log.get(key).decode()  # noqa: E731
    else:
        found = [(p.name, p) for p in (path / "_delta_log").glob("*.json")]
        read = lambda entry: entry.read_text()  # noqa: E731
    out = []
    for name, handle in sorted(found):
        stem, _, suffix = name.partition(".")
        if suffix == "json" and stem.isdigit():
            out.append((int(stem), read(handle)))
    return out


def _file_versions(path: StoragePath) -> dict[str, int]:
    """Data file -> the version whose commit added it, from the Delta log's JSON entries
    (a file whose entry is gone reads as version -1)."""
    out: dict[str, int] = {}
    for version, text in _log_entries(path):
        for line in text.splitlines():
            if '"add"' in line:
                action = json.loads(line).get("add")
                if action:
                    out[action["path"]] = version
    return out
