"""Monitoring records over ``/api/v1/monitoring``: a model's incidents (alerts from
first firing to resolution) and its measured windows (what ``lockgate monitor report``
charts), read with the model's reader role; a user limited to its grants sees only its
models' records, and another model's incident answers 404 like an unknown one.

A monitor pass reads the prediction log and feedback tables under the server's data
root, so a client asks the server to run it (``POST …/models/{name}/passes``, a writer
of the model): the server loads the model from its registry, measures with its own
rules and sinks (the default rules, at the window the caller names; never the caller's
configuration, whose sinks and retraining pipelines would run with the server's
rights), records windows and incidents, audits the pass (``monitor.ran``) as the
caller and answers the pass's JSON form (:meth:`MonitorRun.to_dict`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import Body, FastAPI, HTTPException, Query, Request
from fastapi.responses import Response

from lockgate.config import Settings
from lockgate.errors import LockgateError
from lockgate.server.access import Access
from lockgate.server.api import API, _principal, applied_once
from lockgate.store import Store, audit

MODEL_READ = Access("reader", "model", "path:name")
MODEL_WRITE = Access("writer", "model", "path:name")
SEEN = Access("reader", "any")


def add_monitoring_routes(app: FastAPI, store: Store, settings: Settings) -> None:
    """Add the monitoring routes over the server's store and data root (the monitoring
    package is imported by the first request that needs it, not at start-up)."""

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

    @route("POST", "/models/{name}/passes", MODEL_WRITE)
    def monitor_pass(request: Request, name: str,
                     body: dict[str, Any] = Body(default={})) -> Response:
        ref, window = _pass_request(name, body or {})
        answer = applied_once(store, request, lambda: _run_pass(store, settings, ref, window))
        # NaN/inf measures travel as Python's JSON writes them (the client reads them back)
        return Response(json.dumps(answer), media_type="application/json")


def _pass_request(name: str, body: dict[str, Any]) -> tuple[str, str | None]:
    """The model reference and window of a pass request; the reference must name the
    model of the path (whose writer role was checked)."""
    unknown = sorted(set(body) - {"ref", "window"})
    if unknown:
        raise LockgateError(
            f"A monitor pass through the server takes `ref` and `window` only, not "
            f"{', '.join(unknown)}: rules, sinks and retraining are the server's.")
    ref = str(body.get("ref") or name)
    if ref.partition("@")[0] != name:
        raise LockgateError(f"The pass's model reference `{ref}` is not of model `{name}`.")
    window = body.get("window")
    return ref, None if window is None else str(window)


def _run_pass(store: Store, settings: Settings, ref: str, window: str | None
              ) -> dict[str, Any]:
    """One pass with the server's rules over its own data root, audited as the caller."""
    from lockgate.monitoring.config import load_config
    from lockgate.monitoring.monitor import run_monitor
    from lockgate.monitoring.watched_model import watch

    watched = watch(ref, settings)
    result = run_monitor(watched, settings=settings, config=load_config(None, window=window))
    audit.record(store, "monitor.ran", f"model:{watched.name}@{watched.version}", after={
        "windows": {str(k): w.window_id for k, w in result.windows.items()},
        "opened": [r.rule.name for r in result.alerts],
        "resolved": [r.rule.name for r in result.resolved]})
    return result.to_dict()
