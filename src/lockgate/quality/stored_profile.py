"""Stored profiles: the profile of each dataset version, computed once and reused.

Two scopes per version: ``snapshot`` (the table as of the version, what training reads)
and ``batch`` (only the rows that version added, what a drift check against the previous
version should look at). Each is saved as a JSON artifact and linked to the dataset
version in the ``quality_profiles`` table.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa
import sqlalchemy as sa

from lockgate.artifacts import ArtifactStore
from lockgate.config import Settings, load_settings
from lockgate.quality.profile import FORMAT, Profile, ProfileError, profile
from lockgate.store import DatasetVersion, Store
from lockgate.store.tables_quality import PROFILE_SCOPES, quality_profiles

if TYPE_CHECKING:
    from deltalake import DeltaTable


def profile_for(table: str, version: int | None = None, *,
                settings: Settings | None = None) -> Profile:
    """The profile of a table as of a version (the newest by default).

    Computed on first request, stored as an artifact linked to the dataset version,
    then read back on every later request.

    Raises:
        NotFoundError: no such table or version.
    """
    return _stored(table, version, "snapshot", settings)


def batch_profile_for(table: str, version: int | None = None, *,
                      settings: Settings | None = None) -> Profile:
    """The profile of only the rows a version added (stored like :func:`profile_for`).

    For a version that rewrote rather than appended (a compaction, an overwrite), the
    added rows cannot be told apart, and the whole snapshot is profiled.
    """
    return _stored(table, version, "batch", settings)


def _stored(table: str, version: int | None, scope: str,
            settings: Settings | None) -> Profile:
    settings = settings or load_settings()
    return stored_profile(Store.open(settings).dataset_version(table, version), scope,
                          settings)


def stored_profile(found: DatasetVersion, scope: str, settings: Settings) -> Profile:
    """The stored ``scope`` profile of a version already looked up (computed on first use).

    For callers that hold the :class:`DatasetVersion` (the quality report), so the store
    is not asked for it again.
    """
    assert scope in PROFILE_SCOPES
    store = Store.open(settings)
    artifacts = ArtifactStore.open(settings)
    artifact_id = _lookup(store, found.id, scope)
    if artifact_id is not None:
        return Profile.from_dict(artifacts.load(artifact_id))
    computed = (_merged_snapshot(found, store, artifacts, settings) if scope == "snapshot"
                else None) or _compute(found, scope, settings)
    record = artifacts.save(computed.to_dict(), f"profile:{found.ref}:{scope}")
    # Another process may have stored it first; both computed the same profile.
    with contextlib.suppress(sa.exc.IntegrityError):
        store.execute_write(sa.insert(quality_profiles).values(
            dataset_version_id=found.id, scope=scope, artifact_id=record.id,
            rows=computed.rows, format=FORMAT, created_at=time.time(),
        ))
    return computed


def save_profile(found: DatasetVersion, scope: str, computed: Profile,
                 settings: Settings) -> None:
    """Store a profile computed elsewhere (chunked ingestion merges one per chunk, so
    the batch is never read back whole) as the ``scope`` profile of ``found``."""
    assert scope in PROFILE_SCOPES
    store = Store.open(settings)
    if _lookup(store, found.id, scope) is not None:
        return
    record = ArtifactStore.open(settings).save(computed.to_dict(), f"profile:{found.ref}:{scope}")
    with contextlib.suppress(sa.exc.IntegrityError):
        store.execute_write(sa.insert(quality_profiles).values(
            dataset_version_id=found.id, scope=scope, artifact_id=record.id,
            rows=computed.rows, format=FORMAT, created_at=time.time(),
        ))


def _lookup(store: Store, dataset_version_id: int, scope: str) -> int | None:
    with store.read() as conn:
        found = conn.execute(
            sa.select(quality_profiles.c.artifact_id).where(
                quality_profiles.c.dataset_version_id == dataset_version_id,
                quality_profiles.c.scope == scope,
            )
        ).scalar()
    return None if found is None else int(found)


def _merged_snapshot(found: DatasetVersion, store: Store, artifacts: ArtifactStore,
                     settings: Settings) -> Profile | None:
    """The snapshot as the previous snapshot merged with this version's batch, when both
    are stored and the version only appended: no re-read of the whole table (ingest
    stores the batch profile first, so each snapshot costs a merge, not a table scan)."""
    batch_id = _lookup(store, found.id, "batch")
    if batch_id is None:
        return None
    if found.version == 0:  # the first version: the table is its batch
        return Profile.from_dict(artifacts.load(batch_id))
    try:
        previous = store.dataset_version(found.table_name, found.version - 1)
    except LookupError:
        return None
    previous_id = _lookup(store, previous.id, "snapshot")
    if previous_id is None or _added_files(found, settings) is None:
        return None  # nothing stored to merge, or the commit rewrote files
    added = Profile.from_dict(artifacts.load(batch_id))
    try:
        merged = Profile.from_dict(artifacts.load(previous_id)).merge(added)
    except ProfileError:
        return None  # a column changed kind between versions: profile the table afresh
    return replace(merged, roles=added.roles or merged.roles)


def _compute(found: DatasetVersion, scope: str, settings: Settings) -> Profile:
    from lockgate.data import Contract, read

    # The contract travels in the version's record: no second store query needed.
    contract = Contract.from_dict(found.details["contract"]) \
        if "contract" in found.details else None
    if scope == "batch":
        frame = added_rows(found, settings)
        if frame is not None:
            return profile(frame, contract=contract)
    return profile(read(found.table_name, found.version, settings=settings),
                   contract=contract)


def added_rows(found: DatasetVersion, settings: Settings) -> pl.DataFrame | None:
    """Rows a version appended to its Delta table (None when it rewrote files)."""
    opened = _added_files(found, settings)
    if opened is None:
        return None
    current, files = opened
    columns = [field.name for field in current.schema().fields]
    frames = [pl.read_parquet(_local(uri)) for uri in sorted(files)]
    if not frames:
        # Added no rows: the columns come from the schema already open, not a re-read.
        empty = pl.from_arrow(pa.schema(current.schema().to_arrow()).empty_table())
        assert isinstance(empty, pl.DataFrame)
        return empty
    frame = pl.concat(frames, how="diagonal_relaxed")
    missing = [pl.lit(None).alias(c) for c in columns if c not in frame.columns]
    return frame.with_columns(missing).select(columns)


def _added_files(found: DatasetVersion, settings: Settings,
                 ) -> tuple[DeltaTable, set[str]] | None:
    """The version's Delta table and the data files its commit added (from the log only;
    None when the commit removed files, i.e. rewrote rather than appended)."""
    from deltalake import DeltaTable

    from lockgate.data.table import table_path
    from lockgate.location import storage_options

    location = table_path(settings, found.table_name)
    path, options = str(location), storage_options(location)
    current = DeltaTable(path, version=found.version, storage_options=options)
    files = set(current.file_uris())
    if found.version > 0:
        before = set(DeltaTable(path, version=found.version - 1,
                                storage_options=options).file_uris())
        if not before <= files:
            return None
        files -= before
    return current, files


def _local(uri: str) -> str:
    return str(Path(uri.removeprefix("file://"))) if uri.startswith("file://") else uri
