"""``lockgate du``: where the space goes, per experiment, table, model and log.

Blob bytes are read from the artifact store's own listing (``list``), so the figures are
what the store holds, local or on object storage; a blob shared by two experiments is
counted in each (and once in the total). Tables and logs are the bytes of their Delta
folders: live files, files earlier commits removed (until VACUUM), the log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa

from lockgate.artifacts.blob_store import blob_key, blob_store_for
from lockgate.config import Settings, load_settings
from lockgate.data.table import QUARANTINE_DIR, quarantine_path, table_path
from lockgate.retention.garbage_collection import LOG_DIRS
from lockgate.retention.table_maintenance import delta_tables, file_sizes, folder_bytes
from lockgate.store import Store
from lockgate.store import schema as t
from lockgate.store import tables_registry as reg

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
UsageKind = Literal["experiment", "table", "model", "log", "artifacts", "metadata"]


@dataclass(frozen=True, slots=True)
class Usage:
    """Space one thing takes.

    Attributes:
        kind: experiment, table, model, log, artifacts (store-wide lines) or metadata.
        name: the experiment, table, model or log name, or what the line counts.
        bytes: bytes on storage.
        items: files, blobs or versions behind the figure (see ``detail``).
        detail: what ``items`` counts.
    """

    kind: UsageKind
    name: str
    bytes: int
    items: int
    detail: str


@dataclass(frozen=True, slots=True)
class DiskUsage:
    """Every line of ``lockgate du`` and the store's total."""

    lines: list[Usage] = field(default_factory=list)
    total_bytes: int = 0

    def of(self, kind: UsageKind) -> list[Usage]:
        """The lines of one kind, largest first."""
        return sorted((u for u in self.lines if u.kind == kind), key=lambda u: -u.bytes)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (``lockgate du --json``)."""
        return {"total_bytes": self.total_bytes,
                "lines": [{"kind": u.kind, "name": u.name, "bytes": u.bytes, "items": u.items,
                           "detail": u.detail} for u in self.lines]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DiskUsage:
        """The inverse of :meth:`to_dict` (what ``lockgate server`` answers)."""
        return cls([Usage(u["kind"], u["name"], int(u["bytes"]), int(u["items"]),
                          u["detail"]) for u in data["lines"]], int(data["total_bytes"]))


def disk_usage(*, settings: Settings | None = None) -> DiskUsage:
    """Measure the store: blobs by experiment and model, tables, logs, the database
    (behind ``lockgate server``: measured by the server, for an admin)."""
    settings = settings or load_settings()
    store = Store.open(settings)
    if getattr(store, "remote", False):
        return DiskUsage.from_dict(store.request("GET", "/du").json())  # type: ignore[attr-defined]
    blobs = blob_store_for(settings.resolved_artifact_root)
    sizes: dict[str, int] = {}
    for item in blobs.objects.list():
        name = item.key.rsplit("/", 1)[-1]
        if _SHA256.match(name) and item.key == blob_key(name):
            sizes[name] = item.size
    partials = list(blobs.objects.list_partials())
    partial_bytes, partial_count = sum(p.size for p in partials), len(partials)
    lines = _experiments(store, sizes) + _models(store, sizes)
    referenced = _referenced(store)
    orphan = {sha: size for sha, size in sizes.items() if sha not in referenced}
    lines.append(Usage("artifacts", "all blobs", sum(sizes.values()), len(sizes), "blobs"))
    lines.append(Usage("artifacts", "unreferenced blobs", sum(orphan.values()), len(orphan),
                       "blobs `lockgate gc` may remove"))
    lines.append(Usage("artifacts", "partial uploads", partial_bytes, partial_count,
                       "interrupted uploads"))
    data_bytes = 0
    for table in store.dataset_tables():
        versions = len(store.dataset_versions(table))
        size = folder_bytes(table_path(settings, table))
        lines.append(Usage("table", table, size, versions, "versions"))
        quarantine = folder_bytes(quarantine_path(settings, table))
        if quarantine:
            lines.append(Usage("table", f"{QUARANTINE_DIR}/{table}", quarantine, 0,
                               "quarantined rows"))
        data_bytes += size + quarantine
    root = settings.resolved_data_root
    for folder in LOG_DIRS:
        for path in delta_tables(root / folder):
            size = folder_bytes(path)
            files = len(file_sizes(path, ".parquet"))
            name = str(path)[len(str(root / folder)):].strip("/")
            lines.append(Usage("log", f"{folder}/{name}", size, files, "data files"))
            data_bytes += size
    database = _database_bytes(store)
    if database is not None:
        lines.append(Usage("metadata", "database", database, 1, store.dialect))
    total = sum(sizes.values()) + partial_bytes + data_bytes + (database or 0)
    return DiskUsage(lines, total)


def _experiments(store: Store, sizes: dict[str, int]) -> list[Usage]:
    with store.read() as conn:
        joined = t.artifacts.join(t.runs, t.runs.c.id == t.artifacts.c.run_id).join(
            t.experiments, t.experiments.c.id == t.runs.c.experiment_id)
        rows = conn.execute(sa.select(t.experiments.c.name, t.artifacts.c.sha256)
                            .select_from(joined))
        per: dict[str, dict[str, int]] = {}
        for name, sha in rows:
            per.setdefault(name, {})[sha] = sizes.get(sha, 0)
        for name in store.experiments():
            per.setdefault(name, {})
    return [Usage("experiment", name, sum(shas.values()), len(shas), "blobs")
            for name, shas in sorted(per.items())]


def _models(store: Store, sizes: dict[str, int]) -> list[Usage]:
    with store.read() as conn:
        rows = conn.execute(sa.select(reg.model_versions.c.model_name,
                                      reg.model_versions.c.package_sha256)).all()
    per: dict[str, set[str]] = {}
    for name, sha in rows:
        per.setdefault(name, set()).add(sha)
    return [Usage("model", name, sum(sizes.get(s, 0) for s in shas), len(shas),
                  "packages") for name, shas in sorted(per.items())]


def _referenced(store: Store) -> set[str]:
    with store.read() as conn:
        return set(conn.execute(sa.select(t.artifacts.c.sha256).distinct()).scalars())


def _database_bytes(store: Store) -> int | None:
    if store.dialect == "sqlite":
        from pathlib import Path

        database = store.writer.url.database
        if not database:
            return None
        return sum(p.stat().st_size for p in
                   (Path(database), Path(f"{database}-wal"), Path(f"{database}-shm"))
                   if p.exists())
    if store.dialect == "postgresql":
        with store.read() as conn:
            return int(conn.execute(sa.text(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind = 'r'")).scalar_one())
    return None
