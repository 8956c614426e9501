"""Retention over ``/api/v1``: soft-delete and restore a run (a writer of its
experiment), and a ``lockgate gc`` pass (admins: it purges). Each change is recorded in
the audit log under the authenticated user, with the state before and after
(``deleted``, ``restored``, ``purged`` per run; ``gc.ran`` per pass)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Body, FastAPI, Request

from lockgate.config import Settings
from lockgate.server.access import Access
from lockgate.server.api import ADMIN, API, RUN_WRITE, applied_once
from lockgate.server.wire import encode
from lockgate.store import Store


def add_retention_routes(app: FastAPI, store: Store, settings: Settings) -> None:
    """Add the retention routes over the server's store and roots."""

    def route(method: str, path: str, access: Access) -> Callable[..., Any]:
        return app.api_route(API + path, methods=[method], openapi_extra=access.extra())

    @route("POST", "/runs/{run_id}/delete", RUN_WRITE)
    def delete_run(request: Request, run_id: str) -> dict[str, Any]:
        from lockgate.retention import delete_runs

        return applied_once(store, request, lambda: {
            "runs": encode(delete_runs([run_id], store=store))})

    @route("POST", "/runs/{run_id}/restore", RUN_WRITE)
    def restore_run(request: Request, run_id: str) -> dict[str, Any]:
        from lockgate.retention import restore_runs

        return applied_once(store, request, lambda: {
            "runs": encode(restore_runs([run_id], store=store))})

    @route("POST", "/gc", ADMIN)
    def gc(request: Request, body: dict[str, Any] = Body(default={})) -> dict[str, Any]:
        from lockgate.retention import collect_garbage

        dry_run = bool((body or {}).get("dry_run", True))
        return applied_once(store, request, lambda: collect_garbage(
            dry_run=dry_run, settings=settings).to_dict())
