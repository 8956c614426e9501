"""The pipelines stage's step ledger over ``/api/v1``: recording a step run (a writer of
its pipeline run's experiment, audited as ``pipeline.step_recorded``), the cache lookup
by key and the history ``explain-cache`` compares with (rows of runs the user may see),
and the steps of one pipeline run (a reader of its experiment). The ledger itself is
:mod:`lockgate.pipelines.ledger`, applied here to the server's own store."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Query, Request

from lockgate.server import visibility
from lockgate.server.access import Access
from lockgate.server.idempotency import applied_once
from lockgate.server.routes.responses import ok
from lockgate.server.routes.rules import API, RUN_READ, SEEN
from lockgate.server.state import PrincipalDep, TeamDep
from lockgate.store import audit

router = APIRouter(prefix=API)


@router.post("/pipeline-steps",
             openapi_extra=Access("writer", "experiment", "run:body").extra())
def record_step(request: Request, team: TeamDep,
                body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    from lockgate.pipelines.ledger import record_step as record
    from lockgate.pipelines.ledger import row_from_dict

    row = row_from_dict(dict(body["row"]))
    if row.pipeline_run_id != str(body["run_id"]):
        raise ValueError("`run_id` must be the row's pipeline_run_id (whose experiment's "
                         "writer role was checked).")
    team.store.get_run(row.step_run_id)  # a step run the store knows, or 404

    def work() -> dict[str, bool]:
        record(team.store, row)
        audit.record(team.store, "pipeline.step_recorded", f"run:{row.step_run_id}",
                     after={"pipeline_run_id": row.pipeline_run_id, "node": row.node,
                            "item": row.item, "status": row.status,
                            "cache_key": row.cache_key})
        return ok()
    return applied_once(team.store, request, work)


@router.get("/pipeline-steps", openapi_extra=SEEN.extra())
def cache_candidates(team: TeamDep, user: PrincipalDep, cache_key: str) -> list[Any]:
    from lockgate.pipelines.ledger import cache_candidates as candidates
    from lockgate.pipelines.ledger import row_to_dict

    return _seen(team, user, [row_to_dict(r) for r in candidates(team.store, cache_key)])


@router.get("/pipeline-steps/history", openapi_extra=SEEN.extra())
def step_history(team: TeamDep, user: PrincipalDep, node: str, before: float,
                 pipeline: str, limit: int = Query(20, ge=1, le=1000)) -> list[Any]:
    from lockgate.pipelines.ledger import row_to_dict
    from lockgate.pipelines.ledger import step_history as history

    return _seen(team, user, [row_to_dict(r) for r in history(
        team.store, node, before, pipeline, limit)])


@router.get("/runs/{run_id}/steps", openapi_extra=RUN_READ.extra())
def steps_of(team: TeamDep, run_id: str) -> list[Any]:
    from lockgate.pipelines.ledger import row_to_dict
    from lockgate.pipelines.ledger import steps_of as steps

    return [row_to_dict(r) for r in steps(team.store, team.store.resolve_run_id(run_id))]


def _seen(team: Any, user: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows whose pipeline run the user may read."""
    seen = visibility.visible_runs(user, team.store, [r["pipeline_run_id"] for r in rows])
    return [r for r in rows if r["pipeline_run_id"] in seen]
