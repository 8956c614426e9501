"""Runs over ``/api/v1``: experiments, creating, listing, counting, searching and ending
runs, and a run's heartbeat. A user limited to its grants sees only its experiments'
runs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Query, Request

from lockgate.server import visibility
from lockgate.server.access import Access
from lockgate.server.idempotency import applied_once
from lockgate.server.routes.responses import PlainAnswerRoute, ok
from lockgate.server.routes.rules import API, RUN_READ, RUN_WRITE, SEEN
from lockgate.server.state import PrincipalDep, TeamDep
from lockgate.server.wire import encode
from lockgate.store import audit

router = APIRouter(prefix=API, route_class=PlainAnswerRoute)


@router.get("/experiments", openapi_extra=SEEN.extra())
def experiments(team: TeamDep, user: PrincipalDep) -> list[str]:
    found = visibility.experiments(user, team.store)
    return team.store.experiments() if found is None else found


@router.post("/runs", openapi_extra=Access("writer", "experiment", "body:experiment").extra())
def create_run(request: Request, team: TeamDep,
               body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    def work() -> dict[str, Any]:
        run_id = team.store.create_run(
            str(body["name"]), experiment=str(body.get("experiment") or "default"),
            kind=str(body.get("kind") or "run"), parent_id=body.get("parent_id"),
            heartbeat_seconds=float(body.get("heartbeat_seconds") or 5.0),
            status=str(body.get("status") or "RUNNING"))
        return {"id": run_id}
    return applied_once(team.store, request, work, joined=True)


@router.get("/runs", openapi_extra=SEEN.extra())
def list_runs(team: TeamDep, user: PrincipalDep, experiment: str | None = None,
              status: str | None = None, kind: str | None = None,
              parent_id: str | None = None, top_level: bool = False,
              limit: int = Query(100, ge=1, le=10_000), after: str | None = None,
              within: list[str] = Query(default=[])) -> dict[str, Any]:
    scope = visibility.chosen(user, team.store, [experiment] if experiment else within)
    page = team.store.page_runs(experiment=experiment, status=status, kind=kind,
                                parent_id=parent_id, top_level=top_level, limit=limit,
                                after=after, within=scope)
    return {"runs": encode(page.runs), "next_page": page.next_page}


@router.get("/latest-metrics", openapi_extra=SEEN.extra())
def last_metrics(team: TeamDep, user: PrincipalDep,
                 run_id: list[str] = Query(default=[])) -> dict[str, Any]:
    seen = visibility.visible_runs(user, team.store, run_id[:10_000])
    return encode(team.store.last_metrics([run for run in run_id[:10_000] if run in seen]))


@router.get("/runs-count", openapi_extra=SEEN.extra())
def count_runs(team: TeamDep, user: PrincipalDep) -> dict[str, int]:
    scope = visibility.chosen(user, team.store, [])
    return {"count": team.store.count_runs() if scope is None else
            visibility.count_runs(team.store, scope)}


@router.get("/search", openapi_extra=SEEN.extra())
def search(team: TeamDep, user: PrincipalDep, filter: str = "",
           order_by: list[str] = Query(default=[]), experiment: list[str] = Query(default=[]),
           max_results: int = Query(1000, ge=1, le=100_000),
           include_steps: bool = False) -> list[Any]:
    from lockgate.store.run_search import find_runs

    scope = visibility.chosen(user, team.store, experiment)
    if scope == []:
        return []
    return encode(find_runs(team.store, filter, order_by or None, scope, max_results,
                            include_steps=include_steps))


@router.get("/runs/{run_id}", openapi_extra=RUN_READ.extra())
def get_run(team: TeamDep, run_id: str) -> dict[str, Any]:
    return encode(team.store.get_run(team.store.resolve_run_id(run_id)))


@router.post("/runs/{run_id}/end", openapi_extra=RUN_WRITE.extra())
def end_run(request: Request, team: TeamDep, run_id: str,
            body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    store = team.store

    def work() -> dict[str, bool]:
        before = store.get_run(run_id).status
        store.end_run(run_id, str(body["status"]), body.get("error"))
        audit.record(store, "run.ended", f"run:{run_id}", before={"status": before},
                     after={"status": body["status"]})
        return ok()
    return applied_once(store, request, work, joined=True)


@router.post("/runs/{run_id}/heartbeat", openapi_extra=RUN_WRITE.extra())
def heartbeat(team: TeamDep, run_id: str) -> dict[str, Any]:
    team.store.heartbeat(run_id)
    return ok()
