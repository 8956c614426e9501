"""Stored profiles: the profile of each dataset version, computed once and reused.

Two scopes per version: ``snapshot`` (the table as of the version, what training reads)
and ``batch`` (only the rows that version added, what a drift check against the previous
version should look at). Each is saved as a JSON artifact and linked to the dataset
version in the ``quality_profiles`` table.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import polars as pl
import sqlalchemy as sa

from lockgate.artifacts import ArtifactStore
from lockgate.config import Settings, load_settings
from lockgate.quality.profile import FORMAT, Profile, profile
from lockgate.store import DatasetVersion, Store
from lockgate.store.tables_quality import PROFILE_SCOPES, quality_profiles


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
    assert scope in PROFILE_SCOPES
    settings = settings or load_settings()
    store = Store.open(settings)
    found = store.dataset_version(table, version)
    artifacts = ArtifactStore.open(settings)
    artifact_id = _lookup(store, found.id, scope)
    if artifact_id is not None:
        return Profile.from_dict(artifacts.load(artifact_id))
    computed = _compute(found, scope, settings)
    record = artifacts.save(computed.to_dict(), f"profile:{found.ref}:{scope}")
    # Another process may have stored it first; both computed the same profile.
    with contextlib.suppress(sa.exc.IntegrityError):
        store.execute_write(sa.insert(quality_profiles).values(
            dataset_version_id=found.id, scope=scope, artifact_id=record.id,
            rows=computed.rows, format=FORMAT, created_at=time.time(),
        ))
    return computed


def _lookup(store: Store, dataset_version_id: int, scope: str) -> int | None:
    with store.read() as conn:
        found = conn.execute(
            sa.select(quality_profiles.c.artifact_id).where(
                quality_profiles.c.dataset_version_id == dataset_version_id,
                quality_profiles.c.scope == scope,
            )
        ).scalar()
    return None if found is None else int(found)


def _compute(found: DatasetVersion, scope: str, settings: Settings) -> Profile:
    from lockgate.data import contract_for, read

    contract = None
    if "contract" in found.details:
        contract = contract_for(found.table_name, found.version, settings=settings)
    if scope == "batch":
        frame = added_rows(found, settings)
        if frame is not None:
            return profile(frame, contract=contract)
    return profile(read(found.table_name, found.version, settings=settings),
                   contract=contract)


def added_rows(found: DatasetVersion, settings: Settings) -> pl.DataFrame | None:
    """Rows a version appended to its Delta table (None when it rewrote files)."""
    from deltalake import DeltaTable

    from lockgate.data.table import table_path

    path = str(table_path(settings, found.table_name))
    current = DeltaTable(path, version=found.version)
    columns = [field.name for field in current.schema().fields]
    files = set(current.file_uris())
    if found.version > 0:
        before = set(DeltaTable(path, version=found.version - 1).file_uris())
        if not before <= files:
            return None
        files -= before
    frames = [pl.read_parquet(_local(uri)) for uri in sorted(files)]
    if not frames:
        return read_empty(found, settings)
    frame = pl.concat(frames, how="diagonal_relaxed")
    missing = [pl.lit(None).alias(c) for c in columns if c not in frame.columns]
    return frame.with_columns(missing).select(columns)


def read_empty(found: DatasetVersion, settings: Settings) -> pl.DataFrame:
    """A version that added no rows: the table's columns, zero rows."""
    from lockgate.data import read

    return read(found.table_name, found.version, settings=settings).head(0)


def _local(uri: str) -> str:
    return str(Path(uri.removeprefix("file://"))) if uri.startswith("file://") else uri
