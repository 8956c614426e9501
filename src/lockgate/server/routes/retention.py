"""Retention over ``/api/v1``: soft-delete and restore a run (a writer of its
experiment), and a ``lockgate gc`` pass (admins: it purges). Each change is recorded in
the audit log under the authenticated user, with the state before and after
(``deleted``, ``restored``, ``purged`` per run; ``gc.ran`` per pass). ``lockgate du``
over the server's store is an admin's read (it names every experiment and model)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request

from lockgate.server.idempotency import applied_once
from lockgate.server.routes.responses import PlainAnswerRoute
from lockgate.server.routes.rules import ADMIN, API, RUN_WRITE
from lockgate.server.state import TeamDep
from lockgate.server.wire import encode

router = APIRouter(prefix=API, route_class=PlainAnswerRoute)


@router.post("/runs/{run_id}/delete", openapi_extra=RUN_WRITE.extra())
def delete_run(request: Request, team: TeamDep, run_id: str) -> dict[str, Any]:
    from lockgate.retention import delete_runs

    return applied_once(team.store, request, lambda: {
        "runs": encode(delete_runs([run_id], store=team.store))})


@router.post("/runs/{run_id}/restore", openapi_extra=RUN_WRITE.extra())
def restore_run(request: Request, team: TeamDep, run_id: str) -> dict[str, Any]:
    from lockgate.retention import restore_runs

    return applied_once(team.store, request, lambda: {
        "runs": encode(restore_runs([run_id], store=team.store))})


@router.post("/gc", openapi_extra=ADMIN.extra())
def gc(request: Request, team: TeamDep, body: dict[str, Any] = Body(default={})
       ) -> dict[str, Any]:
    from lockgate.retention import collect_garbage

    dry_run = bool((body or {}).get("dry_run", True))
    return applied_once(team.store, request, lambda: collect_garbage(
        dry_run=dry_run, settings=team.settings).to_dict())


@router.get("/du", openapi_extra=ADMIN.extra())
def du(team: TeamDep) -> dict[str, Any]:
    from lockgate.retention import disk_usage

    return disk_usage(settings=team.settings).to_dict()
