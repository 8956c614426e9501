"""Saved views of the runs table over ``/api/v1/views``: the team's shared views
(``lockgate runs list --view``, the dashboard's views menu) read by any user and changed
by global writers, since a shared view changes what everyone sees. A view scoped to an
experiment a user may not see is left out for it (404 by name). Saving and deleting are
audited (``view.saved``, ``view.deleted`` with before/after)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Body, FastAPI, HTTPException, Request

from lockgate.server.access import Access
from lockgate.server.api import API, _principal, applied_once
from lockgate.store import Store
from lockgate.tracking.saved_view import delete_view, get_view, list_views, save_view, view_dict

SEEN = Access("reader", "any")
WRITE = Access("writer")


def add_views_routes(app: FastAPI, store: Store) -> None:
    """Add the saved-view routes over the server's store."""

    def route(method: str, path: str, access: Access) -> Callable[..., Any]:
        return app.api_route(f"{API}/views{path}", methods=[method],
                             openapi_extra=access.extra())

    def visible(request: Request, experiment: str | None) -> bool:
        return experiment is None or _principal(request).sees("experiment", experiment)

    @route("GET", "", SEEN)
    def views(request: Request) -> list[Any]:
        return [view_dict(v) for v in list_views(store=store) if visible(request, v.experiment)]

    @route("GET", "/{name}", SEEN)
    def view(request: Request, name: str) -> dict[str, Any]:
        found = get_view(name, store=store)
        if not visible(request, found.experiment):
            raise HTTPException(404, f"No saved view `{name}`.")
        return view_dict(found)

    @route("PUT", "/{name}", WRITE)
    def put_view(request: Request, name: str, body: dict[str, Any] = Body(...)) -> Any:
        return applied_once(store, request, lambda: view_dict(save_view(
            name, columns=list(body.get("columns") or []),
            sort=str(body.get("sort") or "start_time"),
            descending=bool(body.get("descending", True)), filter=str(body.get("filter") or ""),
            experiment=body.get("experiment"), store=store)))

    @route("DELETE", "/{name}", WRITE)
    def remove_view(request: Request, name: str) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            delete_view(name, store=store)
            return {"ok": True}
        return applied_once(store, request, work)
