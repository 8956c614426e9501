"""Dataset versions over ``/api/v1``: the tables, their versions, recording one (the
ingestion stage's write) and updating its verdict (the validation stage's write,
audited with before and after)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request

from lockgate.server.idempotency import applied_once
from lockgate.server.routes.responses import PlainAnswerRoute, ok
from lockgate.server.routes.rules import ANY_WRITE, API, READ
from lockgate.server.state import TeamDep
from lockgate.server.wire import encode
from lockgate.store import audit

router = APIRouter(prefix=API, route_class=PlainAnswerRoute)
#: The fields of a dataset version a client may send; others are ignored.
DATASET_FIELDS = frozenset({
    "source", "batch_id", "rows_ingested", "rows_accepted", "rows_quarantined",
    "content_hash", "contract_version", "validation_status", "checks", "details", "run_id",
    "version"})


@router.get("/datasets", openapi_extra=READ.extra())
def dataset_tables(team: TeamDep) -> list[str]:
    return team.store.dataset_tables()


@router.get("/datasets/{table}/versions", openapi_extra=READ.extra())
def dataset_versions(team: TeamDep, table: str) -> list[Any]:
    return encode(team.store.dataset_versions(table))


@router.get("/datasets/{table}/versions/{version}", openapi_extra=READ.extra())
def dataset_version(team: TeamDep, table: str, version: str) -> dict[str, Any]:
    number = None if version == "latest" else int(version)
    return encode(team.store.dataset_version(table, number))


@router.get("/dataset-versions/{dataset_version_id}", openapi_extra=READ.extra())
def dataset_version_by_id(team: TeamDep, dataset_version_id: int) -> dict[str, Any]:
    return encode(team.store.dataset_version_by_id(dataset_version_id))


@router.post("/datasets/{table}/versions", openapi_extra=ANY_WRITE.extra())
def add_dataset_version(request: Request, team: TeamDep, table: str,
                        body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    fields = {k: body[k] for k in body if k in DATASET_FIELDS}
    return applied_once(team.store, request, lambda: encode(
        team.store.add_dataset_version(table, **fields)), joined=True)


@router.patch("/dataset-versions/{dataset_version_id}", openapi_extra=ANY_WRITE.extra())
def update_dataset_version(request: Request, team: TeamDep, dataset_version_id: int,
                           body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    store = team.store

    def work() -> dict[str, bool]:
        before = store.dataset_version_by_id(dataset_version_id)
        store.update_dataset_version(dataset_version_id, **dict(body))
        audit.record(store, "dataset.updated", f"dataset:{before.ref}",
                     before={k: getattr(before, k) for k in body if hasattr(before, k)},
                     after=dict(body))
        return ok()
    return applied_once(store, request, work)
