"""Monitoring records over ``/api/v1/monitoring``: a model's incidents (alerts from
first firing to resolution) and its measured windows (what ``lockgate monitor report``
charts), read with the model's reader role; a user limited to its grants sees only its
models' records, and another model's incident answers 404 like an unknown one.

A monitor pass reads the prediction log and feedback tables under the server's data
root, so a client asks the server to run it (``POST …/models/{name}/passes``, a writer
of the model): the server loads the model from its registry, measures the window the
caller names (length, ``end``, ``now``) and applies its default rules, or an admin's
(``config``: rules, bucket, window, baseline; audited). Sinks and retraining never run
here for a caller (they would run with the server's rights): the server delivers to its
own sinks, records windows and incidents, audits the pass (``monitor.ran``) as the
caller and answers the pass's JSON form (:meth:`MonitorRun.to_dict`). A client that ran
its own sinks or retraining appends their outcome to the incident (``…/deliveries``,
``…/retraining``, writers of the model, audited). The monitoring package is imported
by the first request that needs it, not at start-up.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Body, HTTPException, Query, Request
from fastapi.responses import Response

from lockgate.config import Settings
from lockgate.errors import LockgateError
from lockgate.server.idempotency import applied_once
from lockgate.server.routes.responses import ok
from lockgate.server.routes.rules import API, MODEL_READ, MODEL_WRITE, SEEN
from lockgate.server.state import PrincipalDep, TeamDep
from lockgate.store import Store, audit

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


@router.post("/models/{name}/passes", openapi_extra=MODEL_WRITE.extra())
def monitor_pass(request: Request, team: TeamDep, user: PrincipalDep, name: str,
                 body: dict[str, Any] = Body(default={})) -> Response:
    asked = _pass_request(name, body or {}, admin=user.role == "admin")
    answer = applied_once(team.store, request,
                          lambda: _run_pass(team.store, team.settings, asked))
    # NaN/inf measures travel as Python's JSON writes them (the client reads them back)
    return Response(json.dumps(answer), media_type="application/json")


@dataclass(frozen=True, slots=True)
class PassRequest:
    """What a client asked of one pass."""

    ref: str
    window: str | None
    end: float | None
    now: float | None
    config: dict[str, Any] | None  # an admin's rules, bucket, window and baseline


def _pass_request(name: str, body: dict[str, Any], *, admin: bool) -> PassRequest:
    """A pass request, checked: the reference must name the model of the path (whose
    writer role was checked), and only an admin's rules are applied."""
    unknown = sorted(set(body) - {"ref", "window", "end", "now", "config"})
    if unknown:
        raise LockgateError(
            f"A monitor pass through the server takes `ref`, `window`, `end`, `now` and "
            f"(an admin's) `config`, not {', '.join(unknown)}: sinks and retraining run "
            "in the caller's process, never here.")
    ref = str(body.get("ref") or name)
    if ref.partition("@")[0] != name:
        raise LockgateError(f"The pass's model reference `{ref}` is not of model `{name}`.")
    config = body.get("config")
    if config is not None and not admin:
        raise HTTPException(403, "A monitor pass through the server applies the server's "
                                 "rules; an admin's own rules only (they decide the "
                                 "incidents the team sees). Leave `config` out, or ask an "
                                 "admin to change the rules.")
    if config is not None and not isinstance(config, dict):
        raise LockgateError("`config` must be an object (rules, bucket, window, baseline).")
    window, end, now = body.get("window"), body.get("end"), body.get("now")
    return PassRequest(ref, None if window is None else str(window),
                       None if end is None else float(end),
                       None if now is None else float(now), config)


def _run_pass(store: Store, settings: Settings, asked: PassRequest) -> dict[str, Any]:
    """One pass over the server's own data root (its rules, or an admin's), audited as
    the caller."""
    from lockgate.monitoring.config import MonitorConfig, load_config
    from lockgate.monitoring.monitor import run_monitor
    from lockgate.monitoring.server_pass import config_from
    from lockgate.monitoring.watched_model import watch

    watched = watch(asked.ref, settings)
    if asked.config is not None:  # an admin's rules, with the server's own sinks
        config = config_from(asked.config, MonitorConfig().sinks)
    else:
        config = load_config(None, window=asked.window)
    result = run_monitor(watched, settings=settings, config=config, end=asked.end,
                         now=asked.now)
    audit.record(store, "monitor.ran", f"model:{watched.name}@{watched.version}", after={
        "windows": {str(k): w.window_id for k, w in result.windows.items()},
        "opened": [r.rule.name for r in result.alerts],
        "resolved": [r.rule.name for r in result.resolved],
        **({"rules": [r["name"] for r in asked.config.get("rules") or ()]}
           if asked.config is not None else {})})
    return result.to_dict()


@router.post("/models/{name}/incidents/{incident_id}/deliveries",
             openapi_extra=MODEL_WRITE.extra())
def add_deliveries(request: Request, team: TeamDep, name: str, incident_id: int,
                   body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    """Append the deliveries a client's own sinks made for an incident of ``name``."""
    from lockgate.monitoring.incident import append_deliveries

    found = _incident_of(team.store, name, incident_id)
    added = [dict(d) for d in body["deliveries"]]

    def work() -> dict[str, bool]:
        append_deliveries(team.store, found.id, added)
        audit.record(team.store, "monitor.delivered", f"incident:{found.id}",
                     after={"model": name, "deliveries": added})
        return ok()
    return applied_once(team.store, request, work)


@router.put("/models/{name}/incidents/{incident_id}/retraining",
            openapi_extra=MODEL_WRITE.extra())
def set_retraining(request: Request, team: TeamDep, name: str, incident_id: int,
                   body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    """Record what a client's retraining decided / started for an incident of ``name``."""
    from lockgate.monitoring.incident import set_retraining as record

    found = _incident_of(team.store, name, incident_id)
    retraining = dict(body["retraining"])

    def work() -> dict[str, bool]:
        record(team.store, found.id, retraining)
        audit.record(team.store, "monitor.retraining", f"incident:{found.id}",
                     before=found.retraining, after=retraining)
        return ok()
    return applied_once(team.store, request, work)


def _incident_of(store: Store, name: str, incident_id: int) -> Any:
    """The incident, when it is one of model ``name`` (whose writer role was checked)."""
    from lockgate.monitoring.incident import get_incident

    found = get_incident(store, incident_id)
    if found.model_name != name:
        raise HTTPException(404, f"No monitoring incident {incident_id} of model `{name}`.")
    return found
