"""The step ledger: one row per step run with its cache key and outputs.

It is both the step cache (find the newest successful run with the same key whose
artifacts are still present) and the memory resume reads (what a pipeline run's
successful steps produced).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from lockgate.artifacts import LocalBlobStore, key_from_uri
from lockgate.errors import NotFoundError
from lockgate.pipelines.task import Ref
from lockgate.store import ArtifactRecord, Store
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


def record_step(store: Store, row: StepRow) -> None:
    """Insert the ledger row of a finished, cached, failed or skipped step run."""
    store.execute_write(
        sa.insert(pipeline_steps).values(
            step_run_id=row.step_run_id, pipeline_run_id=row.pipeline_run_id, node=row.node,
            item=row.item, cache_key=row.cache_key, cacheable=row.cacheable, status=row.status,
            attempts=row.attempts,
            outputs=None if row.outputs is None else json.dumps(row.outputs, sort_keys=True),
            reused_from=row.reused_from, created_at=time.time(),
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


def find_cached(store: Store, blobs: LocalBlobStore, key: str
                ) -> tuple[str, dict[str, Ref]] | None:
    """The newest successful step run with this cache key whose artifacts all still exist.

    Returns:
        ``(step run id, outputs)`` or None on a miss.
    """
    query = (
        sa.select(pipeline_steps.c.step_run_id, pipeline_steps.c.outputs)
        .where(pipeline_steps.c.cache_key == key, pipeline_steps.c.cacheable.is_(True),
               pipeline_steps.c.outputs.is_not(None), pipeline_steps.c.status.in_(_DONE))
        .order_by(pipeline_steps.c.created_at.desc())
        .limit(3)
    )
    with store.read() as conn:
        rows = conn.execute(query).all()
    for step_run_id, encoded in rows:
        try:
            outputs = decode_outputs(store, json.loads(encoded))
        except NotFoundError:
            continue
        if all(blobs.exists(key_from_uri(r.uri)) for r in _records(outputs)):
            return step_run_id, outputs
    return None


def steps_of(store: Store, pipeline_run_id: str) -> list[StepRow]:
    """The ledger rows of a pipeline run, in the order they were recorded."""
    query = (
        sa.select(pipeline_steps)
        .where(pipeline_steps.c.pipeline_run_id == pipeline_run_id)
        .order_by(pipeline_steps.c.created_at)
    )
    with store.read() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        StepRow(
            r["step_run_id"], r["pipeline_run_id"], r["node"], r["item"], r["cache_key"],
            bool(r["cacheable"]), r["status"], int(r["attempts"]),
            json.loads(r["outputs"]) if r["outputs"] else None, r["reused_from"],
        )
        for r in rows
    ]


def _records(outputs: dict[str, Ref]) -> list[ArtifactRecord]:
    found: list[ArtifactRecord] = []
    for ref in outputs.values():
        found.extend([ref] if isinstance(ref, ArtifactRecord) else ref)
    return found
