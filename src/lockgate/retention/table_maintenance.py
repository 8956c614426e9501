"""Delta maintenance of tables and prediction logs: OPTIMIZE (compaction of the small
files every micro-batch and HTTP ingest POST commits) and VACUUM within what retention
allows.

Safety:

- VACUUM runs in Delta's default (lite) mode: it deletes only files a commit has
  *removed* (compaction, MERGE), never a file no commit names yet, so a writer whose
  data files are written but not committed cannot lose them.
- Every version lineage protects, and every version the policy keeps, is passed as
  ``keep_versions``: its files stay, so ``orders@v3`` still reads back after compaction.
- The retention is never shorter than the grace age, so a reader that opened an older
  snapshot a moment ago finishes reading it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from deltalake import DeltaTable

from lockgate.artifacts.object_store import object_store_for
from lockgate.data.table import history as delta_history
from lockgate.data.table import open_table, same_content_version
from lockgate.location import StoragePath

#: Files smaller than this are "small": compaction rewrites them into files of
#: about :data:`TARGET_FILE_BYTES`.
SMALL_FILE_BYTES = 16 << 20
TARGET_FILE_BYTES = 128 << 20


@dataclass(frozen=True, slots=True)
class Maintenance:
    """What maintenance did (or would do) to one Delta table.

    Attributes:
        path: the table folder.
        small_files: live data files below :data:`SMALL_FILE_BYTES` before compaction.
        compacted: files compaction rewrote (0 in a dry run).
        vacuumed: files VACUUM deleted (in a dry run: would delete).
        vacuumed_bytes: their bytes.
        kept_versions: versions whose files were kept.
        retention_hours: the VACUUM retention used (None: no VACUUM).
        log_files: ``_delta_log`` entries (commits, checkpoints) removed (in a dry run:
            would remove) because no kept version needs them.
    """

    path: StoragePath
    small_files: int
    compacted: int
    vacuumed: list[str]
    vacuumed_bytes: int
    kept_versions: tuple[int, ...]
    retention_hours: int | None
    log_files: tuple[str, ...] = ()


def maintain(path: StoragePath, *, keep_versions: Sequence[int] | None, grace_seconds: float,
             min_age_seconds: float = 0.0, dry_run: bool) -> Maintenance | None:
    """Compact ``path`` and vacuum what neither ``keep_versions`` nor the retention keeps.

    Args:
        path: a Delta table folder.
        keep_versions: versions to keep readable; None: keep every version (no VACUUM).
            A version compacted since is kept through the compaction's version.
        grace_seconds: the shortest retention (concurrent readers and writers).
        min_age_seconds: keep every version younger than this too (a policy's max_age).
        dry_run: change nothing; report what VACUUM would delete now.

    Returns:
        None when no table is at ``path``.
    """
    table = open_table(path)
    if table is None:
        return None
    small = sum(1 for size in _live_sizes(table) if size < SMALL_FILE_BYTES)
    compacted = 0
    if not dry_run and small > 1:
        metrics = table.optimize.compact(target_size=TARGET_FILE_BYTES)
        compacted = int(metrics.get("numFilesRemoved", 0))
        if compacted:
            table.create_checkpoint()  # readers replay one checkpoint, not every commit
    if keep_versions is None:
        return Maintenance(path, small, compacted, [], 0, (), None)
    hours = math.ceil(max(grace_seconds, min_age_seconds) / 3600)
    latest = table.version()
    history = delta_history(table)
    # a version compacted since stays readable through the compaction (same rows)
    kept = tuple(sorted({same_content_version(table, v, history)
                         for v in keep_versions if 0 <= v <= latest} | {latest}))
    sizes = file_sizes(path, ".parquet")
    files = table.vacuum(retention_hours=hours, dry_run=dry_run,
                         enforce_retention_duration=False, keep_versions=list(kept))
    young = [v for v, at in age_of_versions(table).items()
             if at > time.time() - max(grace_seconds, min_age_seconds)]
    # the kept versions themselves, not their compactions: loading a version reads its
    # own log entry even when its rows come from the compaction that followed it
    own = [v for v in keep_versions if 0 <= v <= latest]
    log = clean_log(path, min([*own, latest, *young]), dry_run=dry_run)
    return Maintenance(path, small, compacted, sorted(files),
                       sum(sizes.get(f, 0) for f in files), kept, hours, tuple(log))


def clean_log(path: StoragePath, floor: int, *, dry_run: bool) -> list[str]:
    """Remove the ``_delta_log`` entries no version from ``floor`` on needs.

    Reading version v takes the newest checkpoint at or below v and the commits after
    it, so everything before the newest checkpoint at or below ``floor`` (the oldest
    version kept) can go: commits and older checkpoints. Without such a checkpoint
    nothing is removed. Without this the log of a busy table or prediction log grows by
    a commit file per batch forever (``cleanup_metadata`` of deltalake only follows the
    table's ``logRetentionDuration`` property, not what lineage and the policy keep).
    """
    store = object_store_for(path)
    entries = [(int(info.key.rsplit("/", 1)[-1][:20]), info.key)
               for info in store.list("_delta_log/")
               if info.key.rsplit("/", 1)[-1][:20].isdigit()]
    checkpoints = [v for v, key in entries if ".checkpoint." in key and v <= floor]
    if not checkpoints:
        return []
    start = max(checkpoints)
    gone = sorted(key for v, key in entries if v < start)
    if not dry_run:
        for key in gone:
            store.delete(key)
    return gone


def delta_tables(root: StoragePath) -> list[StoragePath]:
    """Every Delta table below ``root`` (a folder or prefix holding ``_delta_log``)."""
    if isinstance(root, Path):
        if not root.is_dir():
            return []
        return [p.parent for p in sorted(root.rglob("_delta_log")) if p.is_dir()]
    prefixes = {info.key.split("/_delta_log/", 1)[0]
                for info in object_store_for(root).list() if "/_delta_log/" in info.key}
    return [root / prefix for prefix in sorted(prefixes)]


def folder_bytes(path: StoragePath) -> int:
    """Bytes of every file below ``path`` (data files, log, checkpoints), local or on
    object storage (through the same listing the artifact store uses)."""
    return sum(file_sizes(path).values())


def file_sizes(path: StoragePath, suffix: str = "") -> dict[str, int]:
    """Sizes of the files under ``path`` by name relative to it (VACUUM's naming)."""
    out: dict[str, int] = {}
    if not isinstance(path, Path):
        for info in object_store_for(path).list():
            if info.key.endswith(suffix):
                out[info.key] = info.size
        return out
    if not path.exists():
        return out
    for item in path.rglob(f"*{suffix}"):
        try:
            if item.is_file():
                out[item.relative_to(path).as_posix()] = item.stat().st_size
        except FileNotFoundError:  # vacuumed while walking
            continue
    return out


def age_of_versions(table: DeltaTable) -> dict[int, float]:
    """Each version's commit time (epoch seconds), from the Delta log."""
    now = time.time()
    return {int(e["version"]): float(e.get("timestamp", now * 1000)) / 1000
            for e in delta_history(table)}


def _live_sizes(table: DeltaTable) -> list[int]:
    actions = table.get_add_actions(flatten=True)
    return [int(s) for s in actions.column("size_bytes").to_pylist()]
