"""Lineage over ``/api/v1/lineage``: recording an edge, reading edges, and the graph of
a run, artifact or dataset version as the ``lockgate lineage`` command builds it.

A user limited to its grants reads only edges whose every node it may see (the run, the
artifact's run; never a dataset version, whose tables need a global reader): an edge
to another team's artifact is left out, not redacted, because a redacted edge would
still confirm that the hidden artifact exists and that this run used it. The graph
route needs a global reader.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Query, Request

from lockgate.server import visibility
from lockgate.server.access import Access
from lockgate.server.idempotency import applied_once
from lockgate.server.routes.responses import PlainAnswerRoute, then_ok
from lockgate.server.routes.rules import API, READ, SEEN
from lockgate.server.state import PrincipalDep, TeamDep
from lockgate.server.wire import encode

router = APIRouter(prefix=API + "/lineage", route_class=PlainAnswerRoute)


@router.post("", openapi_extra=Access("writer", "experiment", "run:body").extra())
def add_lineage(request: Request, team: TeamDep, user: PrincipalDep,
                body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    within = visibility.experiments(user, team.store)  # only nodes the writer may see
    return applied_once(team.store, request, then_ok(lambda: team.store.add_lineage(
        str(body["run_id"]), str(body["direction"]), artifact_id=body.get("artifact_id"),
        dataset_version_id=body.get("dataset_version_id"), role=body.get("role"),
        note=body.get("note"), within=within)), joined=True)


@router.get("", openapi_extra=SEEN.extra())
def lineage(team: TeamDep, user: PrincipalDep, run_id: str | None = None,
            artifact_id: int | None = None, dataset_version_id: int | None = None,
            sha256: str | None = None) -> list[Any]:
    return encode(team.store.lineage(
        run_id=run_id, artifact_id=artifact_id, dataset_version_id=dataset_version_id,
        sha256=sha256, within=visibility.experiments(user, team.store)))


@router.get("/graph", openapi_extra=READ.extra())
def graph(team: TeamDep, target: str, depth: int = Query(8, ge=1, le=64)) -> dict[str, Any]:
    from lockgate.pipelines.lineage import lineage as lineage_of

    found = lineage_of(team.store, target, depth=depth)
    return {"root": found.root.to_dict(), "upstream": found.upstream.to_dict(),
            "downstream": found.downstream.to_dict(), "dot": found.to_dot()}
