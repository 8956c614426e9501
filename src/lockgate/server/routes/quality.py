"""Stored profiles over ``/api/v1/dataset-versions/{id}/profiles/{scope}``: which
artifact holds a version's ``snapshot`` or ``batch`` profile (a reader), and linking
one the client computed and uploaded (a writer; audited as ``profile.linked``). The
link itself is :func:`lockgate.quality.stored_profile.link_profile`, applied to the
server's own store; the first link of a version and scope stays."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, HTTPException, Request

from lockgate.server.idempotency import applied_once
from lockgate.server.routes.responses import ok
from lockgate.server.routes.rules import ANY_WRITE, API, READ
from lockgate.server.state import TeamDep
from lockgate.store import audit

router = APIRouter(prefix=API + "/dataset-versions/{dataset_version_id}/profiles")


@router.get("/{scope}", openapi_extra=READ.extra())
def profile(team: TeamDep, dataset_version_id: int, scope: str) -> dict[str, Any]:
    from lockgate.quality.stored_profile import profile_artifact

    _check_scope(scope)
    team.store.dataset_version_by_id(dataset_version_id)  # 404 for an unknown version
    return {"artifact_id": profile_artifact(team.store, dataset_version_id, scope)}


@router.put("/{scope}", openapi_extra=ANY_WRITE.extra())
def link(request: Request, team: TeamDep, dataset_version_id: int, scope: str,
         body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    from lockgate.quality.stored_profile import link_profile

    _check_scope(scope)
    found = team.store.dataset_version_by_id(dataset_version_id)
    artifact = team.store.artifact(int(body["artifact_id"]))  # 404 for an unknown one
    rows = int(body["rows"])

    def work() -> dict[str, bool]:
        link_profile(team.store, found.id, scope, artifact.id, rows)
        audit.record(team.store, "profile.linked", f"dataset:{found.ref}",
                     after={"scope": scope, "artifact_id": artifact.id, "rows": rows})
        return ok()
    return applied_once(team.store, request, work)


def _check_scope(scope: str) -> None:
    from lockgate.store.tables_quality import PROFILE_SCOPES

    if scope not in PROFILE_SCOPES:
        raise HTTPException(404, f"No profile scope `{scope}`; scopes: "
                                 f"{', '.join(PROFILE_SCOPES)}.")
