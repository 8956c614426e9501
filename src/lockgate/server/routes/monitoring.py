"""Monitoring records over ``/api/v1/monitoring``: a model's incidents (alerts from
first firing to resolution) and its measured windows (what ``lockgate monitor report``
charts), read with the model's reader role; a user limited to its grants sees only its
models' records, and another model's incident answers 404 like an unknown one.

A monitor pass reads the prediction log and feedback tables under the server's data
root, so a client asks the server to run it (``POST …/models/{name}/passes``, a writer
of the model): the server loads the model from its registry and measures with the
rules, thresholds and windows the caller sent (``config``, data checked by
:func:`~lockgate.monitoring.server_pass.requested_config`; else the default rules at
the caller's ``window``) and its own sinks (never the caller's: sinks and retraining
pipelines run with the server's rights), records windows and incidents, audits the pass
(``monitor.ran``, with the sent rules) as the caller and answers the pass's JSON form
(:meth:`MonitorRun.to_dict`); ``end`` and ``now`` choose the window. A client that
runs its own sinks or retraining after the pass (in its process, with its rights)
appends their outcome to the incident (``…/deliveries``, ``…/retraining``, writers of
the model, audited). One pass per model and a few per server run at once
(:mod:`lockgate.server.pass_slots`: 409 or 429 with Retry-After beyond that). The
monitoring package is imported by the first request that needs it, not at start-up.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Body, HTTPException, Query, Request
from fastapi.responses import Response

from lockgate.config import Settings
from lockgate.errors import LockgateError
from lockgate.server.idempotency import applied_once
from lockgate.server.routes.responses import PlainAnswerRoute, ok
from lockgate.server.routes.rules import API, MODEL_READ, MODEL_WRITE, SEEN
from lockgate.server.state import PrincipalDep, TeamDep
from lockgate.store import Store, audit

if TYPE_CHECKING:
    from lockgate.monitoring.config import MonitorConfig

router = APIRouter(prefix=API + "/monitoring", route_class=PlainAnswerRoute)


@router.get("/incidents", openapi_extra=SEEN.extra())
def all_incidents(team: TeamDep, user: PrincipalDep, status: str | None = None,
                  limit: int = Query(100, ge=1, le=10_000)) -> list[Any]:
    from lockgate.monitoring.incident import incidents

    found = incidents(team.store, status=status, limit=limit, models=user.visible("model"))
    return [i.to_dict() for i in found]


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
def monitor_pass(request: Request, team: TeamDep, name: str,
                 body: dict[str, Any] = Body(default={})) -> Response:
    ref, config, sent = _pass_request(name, body or {})
    clock = _pass_clock(body or {})

    def work() -> dict[str, Any]:
        # the slot is taken after the Idempotency-Key's claim: a retry of this very
        # request waits for its answer ("being applied"), another request is refused
        with team.passes.held(name):
            return _run_pass(team.store, team.settings, ref, config, sent, clock)
    answer = applied_once(team.store, request, work)
    # NaN/inf measures travel as Python's JSON writes them (the client reads them back)
    return Response(json.dumps(answer), media_type="application/json")


def _pass_request(name: str, body: dict[str, Any]) -> tuple[str, MonitorConfig, bool]:
    """The model reference, config and whether the caller sent it, of a pass request;
    the reference must name the model of the path (whose writer role was checked)."""
    from lockgate.monitoring.config import load_config
    from lockgate.monitoring.server_pass import requested_config

    unknown = sorted(set(body) - {"ref", "window", "config", "end", "now"})
    if unknown:
        raise LockgateError(
            f"A monitor pass through the server takes `ref`, `window`, `config`, `end` and "
            f"`now` only, not {', '.join(unknown)}: sinks and retraining run in the "
            "caller's process, never here.")
    ref = str(body.get("ref") or name)
    if ref.partition("@")[0] != name:
        raise LockgateError(f"The pass's model reference `{ref}` is not of model `{name}`.")
    window = None if body.get("window") is None else str(body["window"])
    if body.get("config") is None:
        return ref, load_config(None, window=window), False
    return ref, requested_config(body["config"], window), True


def _pass_clock(body: dict[str, Any]) -> dict[str, float | None]:
    """The caller's window end and clock (``end``, ``now``): which window, nothing more."""
    return {key: None if body.get(key) is None else float(body[key])
            for key in ("end", "now")}


def _run_pass(store: Store, settings: Settings, ref: str, config: MonitorConfig,
              sent: bool, clock: dict[str, float | None]) -> dict[str, Any]:
    """One pass over the server's data root, audited as the caller (with the rules it
    sent, if it sent a config)."""
    from lockgate.monitoring.monitor import run_monitor
    from lockgate.monitoring.watched_model import watch

    watched = watch(ref, settings)
    result = run_monitor(watched, settings=settings, config=config, end=clock["end"],
                         now=clock["now"])
    audit.record(store, "monitor.ran", f"model:{watched.name}@{watched.version}", after={
        "windows": {str(k): w.window_id for k, w in result.windows.items()},
        "opened": [r.rule.name for r in result.alerts],
        "resolved": [r.rule.name for r in result.resolved],
        **({"rules": [rule.to_dict() for rule in config.rules]} if sent else {})})
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
