"""The step ledger: one row per step run with its cache key and outputs.

It is both the step cache (find the newest successful run with the same key whose
artifacts are still present and whose "latest" table reads are still the latest) and
the memory resume reads (what a pipeline run's successful steps produced). Each row
keeps what its key is made of and why it hit or missed, for
``lockgate pipelines explain-cache``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from lockgate.artifacts import ObjectBlobStore
from lockgate.artifacts.blob_store import key_from_uri
from lockgate.errors import NotFoundError
from lockgate.pipelines.task import Ref
from lockgate.store import ArtifactRecord, Store
from lockgate.store import schema as t
from lockgate.store.records import from_row
from lockgate.store.tables_pipelines import pipeline_steps

_DONE = ("FINISHED", "CACHED")


@dataclass(frozen=True, slots=True)
class StepRow:
    """One step run as the ledger knows it."""

    step_run_id: str
    pipeline_run_id: str
    node: str
    item: int | None
    cache_key: str
    cacheable: bool
    status: str
    attempts: int
    outputs: dict[str, Any] | None
    reused_from: str | None
    key_parts: dict[str, Any] | None = None
    reads: tuple[dict[str, Any], ...] = ()
    cache_reason: str | None = None
    created_at: float = 0.0


def record_step(store: Store, row: StepRow) -> None:
    """Insert the ledger row of a finished, cached, failed or skipped step run (behind
    ``lockgate server``: through it, a writer of the pipeline run's experiment)."""
    if getattr(store, "remote", False):
        store.request(  # type: ignore[attr-defined]
            "POST", "/pipeline-steps", idempotent=True,
            json_body={"run_id": row.pipeline_run_id, "row": row_to_dict(row)})
        return
    store.execute_write(
        sa.insert(pipeline_steps).values(
            step_run_id=row.step_run_id, pipeline_run_id=row.pipeline_run_id, node=row.node,
            item=row.item, cache_key=row.cache_key, cacheable=row.cacheable, status=row.status,
            attempts=row.attempts,
            outputs=None if row.outputs is None else json.dumps(row.outputs, sort_keys=True),
            reused_from=row.reused_from, created_at=time.time(),
            key_parts=None if row.key_parts is None else json.dumps(row.key_parts,
                                                                    sort_keys=True),
            reads=json.dumps(list(row.reads)) if row.reads else None,
            cache_reason=row.cache_reason,
        )
    )


def encode_outputs(outputs: dict[str, Ref]) -> dict[str, Any]:
    """``{name: artifact id | [ids]}`` for the ledger."""
    return {
        name: ref.id if isinstance(ref, ArtifactRecord) else [r.id for r in ref]
        for name, ref in outputs.items()
    }


def decode_outputs(store: Store, encoded: dict[str, Any]) -> dict[str, Ref]:
    """Artifact records back from :func:`encode_outputs`."""
    return {
        name: store.artifact(value) if isinstance(value, int)
        else tuple(store.artifact(v) for v in value)
        for name, value in encoded.items()
    }


@dataclass(frozen=True, slots=True)
class CacheLookup:
    """What the cache said for one key: a hit (``step_run_id`` and ``outputs``), or a miss
    with the reason."""

    step_run_id: str | None
    outputs: dict[str, Ref] | None
    reason: str
    reads: tuple[dict[str, Any], ...] = ()

    @property
    def hit(self) -> bool:
        return self.outputs is not None


def cache_candidates(store: Store, key: str) -> list[StepRow]:
    """The newest (at most 3) successful, cacheable step runs with this cache key, newest
    first (behind ``lockgate server``: those of runs the user may see)."""
    if getattr(store, "remote", False):
        return [row_from_dict(r) for r in store.request(  # type: ignore[attr-defined]
            "GET", "/pipeline-steps", params={"cache_key": key}).json()]
    query = (
        sa.select(pipeline_steps)
        .where(pipeline_steps.c.cache_key == key, pipeline_steps.c.cacheable.is_(True),
               pipeline_steps.c.outputs.is_not(None), pipeline_steps.c.status.in_(_DONE))
        .order_by(pipeline_steps.c.created_at.desc())
        .limit(3)
    )
    with store.read() as conn:
        return [_row(r) for r in conn.execute(query).mappings().all()]


def find_cached(store: Store, blobs: ObjectBlobStore, key: str) -> CacheLookup:
    """The newest successful step run with this cache key whose artifacts all still exist
    and whose tables read as "latest" have no newer version since."""
    rows = cache_candidates(store, key)
    if not rows:
        return CacheLookup(None, None, "miss: no earlier successful run with this key")
    reason = "miss: the outputs of the earlier runs with this key are gone"
    for row in rows:
        step_run_id, reads = row.step_run_id, row.reads
        stale = stale_reads(store, reads)
        if stale:
            reason = f"miss: step run {step_run_id} had this key but " + "; ".join(stale)
            continue
        try:
            outputs = decode_outputs(store, row.outputs or {})
        except NotFoundError:
            continue
        if all(blobs.exists(key_from_uri(r.uri)) for r in _records(outputs)):
            return CacheLookup(step_run_id, outputs,
                               f"hit: same key as step run {step_run_id}", reads)
    return CacheLookup(None, None, reason)


def stale_reads(store: Store, reads: tuple[dict[str, Any], ...]) -> list[str]:
    """For each table a step read as "latest", a sentence when it has a newer version."""
    found = []
    for read in reads:
        if not read.get("latest"):
            continue
        try:
            current = store.dataset_version(str(read["table"])).version
        except NotFoundError:
            found.append(f"table `{read['table']}` it read (v{read['version']}) is gone")
            continue
        if current != read["version"]:
            found.append(f"it read `{read['table']}@v{read['version']}` and the table is "
                         f"now at v{current}")
    return found


def steps_of(store: Store, pipeline_run_id: str) -> list[StepRow]:
    """The ledger rows of a pipeline run, in the order they were recorded (behind
    ``lockgate server``: read through it)."""
    if getattr(store, "remote", False):
        return [row_from_dict(r) for r in store.request(  # type: ignore[attr-defined]
            "GET", f"/runs/{pipeline_run_id}/steps").json()]
    query = (
        sa.select(pipeline_steps)
        .where(pipeline_steps.c.pipeline_run_id == pipeline_run_id)
        .order_by(pipeline_steps.c.created_at)
    )
    with store.read() as conn:
        rows = conn.execute(query).mappings().all()
    return [_row(r) for r in rows]


def step_history(store: Store, node: str, before: float, pipeline: str,
                 limit: int = 20) -> list[StepRow]:
    """Earlier ledger rows of the step ``node`` of pipeline runs named ``pipeline`` (newest
    first): what ``explain-cache`` compares a miss with."""
    if getattr(store, "remote", False):
        return [row_from_dict(r) for r in store.request(  # type: ignore[attr-defined]
            "GET", "/pipeline-steps/history", params={
                "node": node, "before": before, "pipeline": pipeline, "limit": limit}
        ).json()]
    query = (
        sa.select(pipeline_steps)
        .join(t.runs, t.runs.c.id == pipeline_steps.c.pipeline_run_id)
        .where(pipeline_steps.c.node == node, pipeline_steps.c.created_at < before,
               t.runs.c.name == pipeline, pipeline_steps.c.key_parts.is_not(None))
        .order_by(pipeline_steps.c.created_at.desc())
        .limit(limit)
    )
    with store.read() as conn:
        return [_row(r) for r in conn.execute(query).mappings().all()]


def row_to_dict(row: StepRow) -> dict[str, Any]:
    """A ledger row as JSON-able data (the form it travels in to and from the server)."""
    return {f: getattr(row, f) if f != "reads" else list(row.reads)
            for f in StepRow.__slots__}


def row_from_dict(data: dict[str, Any]) -> StepRow:
    """The inverse of :func:`row_to_dict` (unknown fields refused by the dataclass)."""
    return StepRow(**{**data, "reads": tuple(data.get("reads") or ())})


def _row(r: Any) -> StepRow:
    return from_row(
        StepRow, r, cacheable=bool(r["cacheable"]), attempts=int(r["attempts"]),
        outputs=json.loads(r["outputs"]) if r["outputs"] else None,
        key_parts=json.loads(r["key_parts"]) if r["key_parts"] else None,
        reads=tuple(json.loads(r["reads"])) if r["reads"] else (),
        created_at=float(r["created_at"]))


def _records(outputs: dict[str, Ref]) -> list[ArtifactRecord]:
    found: list[ArtifactRecord] = []
    for ref in outputs.values():
        found.extend([ref] if isinstance(ref, ArtifactRecord) else ref)
    return found
