"""What a run records over ``/api/v1/runs/{run_id}/…``: params, metrics (batched), tags,
notes, console, hardware samples, code version and environment; each read needs a
reader and each write a writer of the run's experiment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import Response

from lockgate.server.idempotency import applied_once
from lockgate.server.routes.responses import PlainAnswerRoute, ok, python_json, then_ok
from lockgate.server.routes.rules import API, RUN_READ, RUN_WRITE
from lockgate.server.state import PrincipalDep, TeamDep, TeamServerState
from lockgate.server.wire import encode, real
from lockgate.store import CodeVersion, Environment

router = APIRouter(prefix=API + "/runs/{run_id}", route_class=PlainAnswerRoute)
READ = RUN_READ.extra()
WRITE = RUN_WRITE.extra()


def _set_values(request: Request, team: TeamServerState,
                write: Callable[[dict[str, Any]], object], body: dict[str, Any]
                ) -> dict[str, Any]:
    """Params and tags alike: ``body["values"]`` written once per Idempotency-Key."""
    values = dict(body["values"])
    return applied_once(team.store, request, then_ok(lambda: write(values)), joined=True)


@router.post("/params", openapi_extra=WRITE)
def log_params(request: Request, team: TeamDep, run_id: str,
               body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    return _set_values(request, team, lambda values: team.store.log_params(run_id, values), body)


@router.get("/params", openapi_extra=READ)
def params(team: TeamDep, run_id: str) -> Response:
    return python_json(team.store.params(run_id))


@router.post("/metrics", openapi_extra=WRITE)
def log_metrics(request: Request, team: TeamDep, run_id: str,
                body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    points = body.get("points") or []
    rows = [(run_id, str(k), int(s), float(ts), real(v)) for k, s, ts, v in points]

    def work() -> dict[str, int]:
        team.store.log_metric_tuples(rows)
        return {"stored": len(rows)}
    return applied_once(team.store, request, work, joined=True)


@router.get("/metrics", openapi_extra=READ)
def metrics(team: TeamDep, run_id: str, key: str | None = None) -> list[Any]:
    return encode(team.store.metrics(run_id, key))


@router.post("/tags", openapi_extra=WRITE)
def set_tags(request: Request, team: TeamDep, run_id: str,
             body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    return _set_values(request, team, lambda values: team.store.set_tags(run_id, values), body)


@router.get("/tags", openapi_extra=READ)
def tags(team: TeamDep, run_id: str) -> dict[str, str]:
    return team.store.tags(run_id)


@router.post("/notes", openapi_extra=WRITE)
def add_note(request: Request, team: TeamDep, user: PrincipalDep, run_id: str,
             body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    author = body.get("author") or user.user
    return applied_once(team.store, request, then_ok(lambda:
        team.store.add_note(run_id, str(body["text"]), author)), joined=True)


@router.get("/notes", openapi_extra=READ)
def notes(team: TeamDep, run_id: str) -> list[Any]:
    return encode(team.store.notes(run_id))


@router.post("/console", openapi_extra=WRITE)
def append_console(request: Request, team: TeamDep, run_id: str,
                   body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    rows = [{**dict(chunk), "run_id": run_id} for chunk in body.get("chunks") or []]
    return applied_once(team.store, request, then_ok(lambda: team.store.append_console(rows)),
                        joined=True)


@router.get("/console", openapi_extra=READ)
def console(team: TeamDep, run_id: str, tail_lines: int | None = None) -> dict[str, str]:
    return {"text": team.store.console(run_id, tail_lines)}


@router.post("/hardware", openapi_extra=WRITE)
def add_hardware(team: TeamDep, run_id: str,
                 body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    rows = [{**dict(sample), "run_id": run_id} for sample in body.get("samples") or []]
    team.store.add_hardware_samples(rows)
    return ok()


@router.get("/hardware", openapi_extra=READ)
def hardware(team: TeamDep, run_id: str) -> list[Any]:
    return encode(team.store.hardware(run_id))


@router.put("/code", openapi_extra=WRITE)
def set_code(team: TeamDep, run_id: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    team.store.set_code_version(run_id, CodeVersion(**body))
    return ok()


@router.get("/code", openapi_extra=READ)
def code(team: TeamDep, run_id: str) -> Any:
    return encode(team.store.code_version(run_id))


@router.put("/environment", openapi_extra=WRITE)
def set_environment(team: TeamDep, run_id: str,
                    body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    team.store.set_environment(run_id, Environment(**body))
    return ok()


@router.get("/environment", openapi_extra=READ)
def environment(team: TeamDep, run_id: str) -> Any:
    return encode(team.store.environment(run_id))
