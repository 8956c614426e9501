"""Monitoring records over ``/api/v1/monitoring``: a model's incidents (alerts from
first firing to resolution) and its measured windows (what ``lockgate monitor report``
charts), read with the model's reader role; a user limited to its grants sees only its
models' records, and another model's incident answers 404 like an unknown one.

Only reading is served: a monitor pass reads the prediction log and feedback tables
where the server's data root is, so it runs beside the server (``lockgate monitor run``
there), not through it. The monitoring package is imported by the first request that
needs it, not at start-up.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query

from lockgate.server.routes.rules import API, MODEL_READ, SEEN
from lockgate.server.state import PrincipalDep, TeamDep

router = APIRouter(prefix=API + "/monitoring")


@router.get("/incidents", openapi_extra=SEEN.extra())
def all_incidents(team: TeamDep, user: PrincipalDep, status: str | None = None,
                  limit: int = Query(100, ge=1, le=10_000)) -> list[Any]:
    from lockgate.monitoring.incident import incidents

    visible = user.visible("model")
    found = incidents(team.store, status=status, limit=limit)
    return [i.to_dict() for i in found if visible is None or i.model_name in visible]


@router.get("/incidents/{incident_id}", openapi_extra=SEEN.extra())
def incident(team: TeamDep, user: PrincipalDep, incident_id: int) -> dict[str, Any]:
    from lockgate.monitoring.incident import get_incident

    found = get_incident(team.store, incident_id)
    if not user.sees("model", found.model_name):
        raise HTTPException(404, f"No monitoring incident {incident_id}.")
    return found.to_dict()


@router.get("/models/{name}/incidents", openapi_extra=MODEL_READ.extra())
def model_incidents(team: TeamDep, name: str, status: str | None = None,
                    limit: int = Query(100, ge=1, le=10_000)) -> list[Any]:
    from lockgate.monitoring.incident import incidents

    return [i.to_dict() for i in incidents(team.store, name, status=status, limit=limit)]


@router.get("/models/{name}/windows", openapi_extra=MODEL_READ.extra())
def windows(team: TeamDep, name: str, since: float | None = None,
            limit: int = Query(1000, ge=1, le=100_000)) -> list[Any]:
    from lockgate.monitoring.history import window_history

    return window_history(team.store, name, since=since, limit=limit)
