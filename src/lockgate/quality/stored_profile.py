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
from typing import TYPE_CHECKING

import pyarrow as pa
import sqlalchemy as sa

from lockgate.artifacts import ArtifactStore
from lockgate.config import Settings, load_settings
from lockgate.data.contract import Contract
from lockgate.errors import NotFoundError
from lockgate.quality.profile import FORMAT, Profile, ProfileError
from lockgate.quality.table_profile import TableFiles, profile_files
from lockgate.store import DatasetVersion, Store
from lockgate.store.tables_quality import PROFILE_SCOPES, quality_profiles

if TYPE_CHECKING:
    from deltalake import DeltaTable

    from lockgate.pipelines.executors.base import Executor


def profile_for(table: str, version: int | None = None, *,
                settings: Settings | None = None,
                executor: Executor | None = None) -> Profile:
    """The profile of a table as of a version (the newest by default).

    Computed on first request, stored as an artifact linked to the dataset version,
    then read back on every later request. Computing it profiles each data file as a
    task of ``executor`` (default: in this process; a ``RayExecutor`` profiles them on
    the cluster's workers) and merges the partial profiles here (see ``table_profile``).

    Raises:
        NotFoundError: no such table or version.
    """
    return _stored(table, version, "snapshot", settings, executor)


def batch_profile_for(table: str, version: int | None = None, *,
                      settings: Settings | None = None,
                      executor: Executor | None = None) -> Profile:
    """The profile of only the rows a version added (stored like :func:`profile_for`).

    For a version that rewrote rather than appended (a compaction, an overwrite), the
    added rows cannot be told apart, and the whole snapshot is profiled.
    """
    return _stored(table, version, "batch", settings, executor)


def _stored(table: str, version: int | None, scope: str, settings: Settings | None,
            executor: Executor | None) -> Profile:
    settings = settings or load_settings()
    return stored_profile(Store.open(settings).dataset_version(table, version), scope,
                          settings, executor)


def stored_profile(found: DatasetVersion, scope: str, settings: Settings,
                   executor: Executor | None = None) -> Profile:
    """The stored ``scope`` profile of a version already looked up (computed on first use).

    For callers that hold the :class:`DatasetVersion` (the quality report), so the store
    is not asked for it again.
    """
    assert scope in PROFILE_SCOPES
    store = Store.open(settings)
    artifacts = ArtifactStore.open(settings)
    artifact_id = profile_artifact(store, found.id, scope)
    if artifact_id is not None:
        return Profile.from_dict(artifacts.load(artifact_id))
    computed = (_merged_snapshot(found, store, artifacts, settings) if scope == "snapshot"
                else None) or _compute(found, scope, settings, executor)
    record = artifacts.save(computed.to_dict(), f"profile:{found.ref}:{scope}")
    link_profile(store, found.id, scope, record.id, computed.rows)
    return computed


def save_profile(found: DatasetVersion, scope: str, computed: Profile,
                 settings: Settings) -> None:
    """Store a profile computed elsewhere (chunked ingestion merges one per chunk, so
    the batch is never read back whole) as the ``scope`` profile of ``found``."""
    assert scope in PROFILE_SCOPES
    store = Store.open(settings)
    if profile_artifact(store, found.id, scope) is not None:
        return
    record = ArtifactStore.open(settings).save(computed.to_dict(), f"profile:{found.ref}:{scope}")
    link_profile(store, found.id, scope, record.id, computed.rows)


def link_profile(store: Store, dataset_version_id: int, scope: str, artifact_id: int,
                 rows: int) -> None:
    """Record the stored profile artifact as the ``scope`` profile of a dataset version
    (behind ``lockgate server``: through it, which checks and audits the link). Another
    process may have linked one first; both computed the same profile, the first stays."""
    if getattr(store, "remote", False):
        store.request(  # type: ignore[attr-defined]
            "PUT", f"/dataset-versions/{int(dataset_version_id)}/profiles/{scope}",
            json_body={"artifact_id": int(artifact_id), "rows": int(rows)}, idempotent=True)
        return
    with contextlib.suppress(sa.exc.IntegrityError):
        store.execute_write(sa.insert(quality_profiles).values(
            dataset_version_id=dataset_version_id, scope=scope, artifact_id=artifact_id,
            rows=rows, format=FORMAT, created_at=time.time(),
        ))


def profile_artifact(store: Store, dataset_version_id: int, scope: str) -> int | None:
    """The artifact id of the stored ``scope`` profile of a dataset version, or None
    (behind ``lockgate server``: asked of it)."""
    if getattr(store, "remote", False):
        found = store.request(  # type: ignore[attr-defined]
            "GET", f"/dataset-versions/{int(dataset_version_id)}/profiles/{scope}"
        ).json()["artifact_id"]
        return None if found is None else int(found)
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
    batch_id = profile_artifact(store, found.id, "batch")
    if batch_id is None:
        return None
    if found.version == 0:  # the first version: the table is its batch
        return Profile.from_dict(artifacts.load(batch_id))
    try:
        previous = store.dataset_version(found.table_name, found.version - 1)
    except LookupError:
        return None
    previous_id = profile_artifact(store, previous.id, "snapshot")
    if previous_id is None or _added_files(found, settings) is None:
        return None  # nothing stored to merge, or the commit rewrote files
    added = Profile.from_dict(artifacts.load(batch_id))
    try:
        merged = Profile.from_dict(artifacts.load(previous_id)).merge(added)
    except ProfileError:
        return None  # a column changed kind between versions: profile the table afresh
    return replace(merged, roles=added.roles or merged.roles)


def _compute(found: DatasetVersion, scope: str, settings: Settings,
             executor: Executor | None = None) -> Profile:
    # The contract travels in the version's record: no second store query needed.
    contract = Contract.from_dict(found.details["contract"]) \
        if "contract" in found.details else None
    return profile_files(version_files(found, scope, settings), contract, executor=executor)


def version_files(found: DatasetVersion, scope: str, settings: Settings) -> TableFiles:
    """The files whose rows the ``scope`` profile of a version describes: those its
    commit added (``batch``), or every file of the table as of it (``snapshot``, and a
    batch whose commit rewrote files rather than appended)."""
    if scope == "batch":
        opened = _added_files(found, settings)
        if opened is not None:
            current, files = opened
            return TableFiles.of(list(files), pa.schema(current.schema().to_arrow()))
    from lockgate.data.table import open_table, same_content_version, table_path

    location = table_path(settings, found.table_name)
    table = open_table(location)
    if table is None:
        raise NotFoundError(f"No table `{found.table_name}` at {location}. List tables "
                            "with `lockgate data tables`.")
    version = found.version
    if version < table.version():  # compacted by `lockgate gc`: the same rows, later files
        version = same_content_version(table, version)
    table.load_as_version(version)
    return TableFiles.of(list(table.file_uris()), pa.schema(table.schema().to_arrow()))


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

