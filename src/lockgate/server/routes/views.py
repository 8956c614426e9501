"""Saved views of the runs table over ``/api/v1/views``: the team's shared views
(``lockgate runs list --view``, the dashboard's views menu) read by any user and changed
by global writers, since a shared view changes what everyone sees. A view scoped to an
experiment a user may not see is left out for it (404 by name). Saving and deleting are
audited (``view.saved``, ``view.deleted`` with before/after)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, HTTPException, Request

from lockgate.security.accounts import Principal
from lockgate.server.idempotency import applied_once
from lockgate.server.routes.responses import PlainAnswerRoute, then_ok
from lockgate.server.routes.rules import API, SEEN, WRITE
from lockgate.server.state import PrincipalDep, TeamDep
from lockgate.tracking.saved_view import delete_view, get_view, list_views, save_view, view_dict

router = APIRouter(prefix=API + "/views", route_class=PlainAnswerRoute)


@router.get("", openapi_extra=SEEN.extra())
def views(team: TeamDep, user: PrincipalDep) -> list[Any]:
    return [view_dict(v) for v in list_views(store=team.store)
            if _visible(user, v.experiment)]


@router.get("/{name}", openapi_extra=SEEN.extra())
def view(team: TeamDep, user: PrincipalDep, name: str) -> dict[str, Any]:
    found = get_view(name, store=team.store)
    if not _visible(user, found.experiment):
        raise HTTPException(404, f"No saved view `{name}`.")
    return view_dict(found)


@router.put("/{name}", openapi_extra=WRITE.extra())
def put_view(request: Request, team: TeamDep, name: str,
             body: dict[str, Any] = Body(...)) -> Any:
    return applied_once(team.store, request, lambda: view_dict(save_view(
        name, columns=list(body.get("columns") or []),
        sort=str(body.get("sort") or "start_time"),
        descending=bool(body.get("descending", True)), filter=str(body.get("filter") or ""),
        experiment=body.get("experiment"), store=team.store)))


@router.delete("/{name}", openapi_extra=WRITE.extra())
def remove_view(request: Request, team: TeamDep, name: str) -> dict[str, Any]:
    return applied_once(team.store, request,
                        then_ok(lambda: delete_view(name, store=team.store)))


def _visible(user: Principal, experiment: str | None) -> bool:
    return experiment is None or user.sees("experiment", experiment)
