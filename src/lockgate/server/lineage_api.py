"""Lineage and dataset versions over ``/api/v1`` beyond the store's edge and version
rows (which ``api.py`` serves): the lineage graph of a run, artifact or dataset version
as the ``lockgate lineage`` command builds it, and a dataset version's verdict update
(the validation stage's write)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Body, FastAPI, Query, Request

from lockgate.config import Settings
from lockgate.pipelines.lineage import lineage
from lockgate.server.access import Access
from lockgate.server.api import API, applied_once
from lockgate.store import Store, audit


def add_lineage_routes(app: FastAPI, store: Store, settings: Settings) -> None:
    """Add the lineage-graph and dataset-version update routes."""

    def route(method: str, path: str, access: Access) -> Callable[..., Any]:
        return app.api_route(API + path, methods=[method], openapi_extra=access.extra())

    @route("GET", "/lineage/graph", Access("reader"))
    def graph(target: str, depth: int = Query(8, ge=1, le=64)) -> dict[str, Any]:
        found = lineage(store, target, depth=depth)
        return {"root": found.root.to_dict(), "upstream": found.upstream.to_dict(),
                "downstream": found.downstream.to_dict(), "dot": found.to_dot()}

    @route("PATCH", "/dataset-versions/{dataset_version_id}", Access("writer", "any"))
    def update_dataset_version(request: Request, dataset_version_id: int,
                               body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            before = store.dataset_version_by_id(dataset_version_id)
            store.update_dataset_version(dataset_version_id, **dict(body))
            audit.record(store, "dataset.updated", f"dataset:{before.ref}",
                         before={k: getattr(before, k) for k in body if hasattr(before, k)},
                         after=dict(body))
            return {"ok": True}
        return applied_once(store, request, work)
