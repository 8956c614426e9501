"""Monitoring records over ``/api/v1/monitoring``: a model's incidents (alerts from
first firing to resolution) and its measured windows (what ``lockgate monitor report``
charts), read with the model's reader role; a user limited to its grants sees only its
models' records, and another model's incident answers 404 like an unknown one.

Only reading is served: a monitor pass reads the prediction log and feedback tables
where the server's data root is, so it runs beside the server (``lockgate monitor run``
there), not through it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request

from lockgate.server.access import Access
from lockgate.server.api import API, _principal
from lockgate.store import Store

MODEL_READ = Access("reader", "model", "path:name")
SEEN = Access("reader", "any")


def add_monitoring_routes(app: FastAPI, store: Store) -> None:
    """Add the monitoring read routes over the server's store (the monitoring package
    is imported by the first request that needs it, not at start-up)."""

    def route(method: str, path: str, access: Access) -> Callable[..., Any]:
        return app.api_route(f"{API}/monitoring{path}", methods=[method],
                             openapi_extra=access.extra())

    @route("GET", "/incidents", SEEN)
    def all_incidents(request: Request, status: str | None = None,
                      limit: int = Query(100, ge=1, le=10_000)) -> list[Any]:
        from lockgate.monitoring.incident import incidents

        visible = _principal(request).visible("model")
        found = incidents(store, status=status, limit=limit)
        return [i.to_dict() for i in found if visible is None or i.model_name in visible]

    @route("GET", "/incidents/{incident_id}", SEEN)
    def incident(request: Request, incident_id: int) -> dict[str, Any]:
        from lockgate.monitoring.incident import get_incident

        found = get_incident(store, incident_id)
        if not _principal(request).sees("model", found.model_name):
            raise HTTPException(404, f"No monitoring incident {incident_id}.")
        return found.to_dict()

    @route("GET", "/models/{name}/incidents", MODEL_READ)
    def model_incidents(name: str, status: str | None = None,
                        limit: int = Query(100, ge=1, le=10_000)) -> list[Any]:
        from lockgate.monitoring.incident import incidents

        return [i.to_dict() for i in incidents(store, name, status=status, limit=limit)]

    @route("GET", "/models/{name}/windows", MODEL_READ)
    def windows(name: str, since: float | None = None,
                limit: int = Query(1000, ge=1, le=100_000)) -> list[Any]:
        from lockgate.monitoring.history import window_history

        return window_history(store, name, since=since, limit=limit)
