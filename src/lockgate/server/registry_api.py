"""The registry over ``/api/v1/models``: read versions and history, register a run's
model, promote through the gates (the server's gate configuration, not the caller's),
roll back. Moving ``production`` needs the separate right to promote."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Body, FastAPI, Request
from fastapi.responses import StreamingResponse

from lockgate.config import Settings
from lockgate.registry import Registry, load_gate_config, promote, rollback
from lockgate.server.access import Access
from lockgate.server.api import API, _chunks, _principal, applied_once
from lockgate.server.wire import encode
from lockgate.store import Store

MODEL_READ = Access("reader", "model", "path:name")
MODEL_WRITE = Access("writer", "model", "path:name")


def add_registry_routes(app: FastAPI, store: Store, settings: Settings) -> None:
    """Add the registry routes over the server's store and artifact root."""
    registry = Registry(store, settings)

    def route(method: str, path: str, access: Access) -> Callable[..., Any]:
        return app.api_route(f"{API}/models{path}", methods=[method],
                             openapi_extra=access.extra())

    @route("GET", "", Access("reader", "any"))
    def models(request: Request) -> list[str]:
        visible = _principal(request).visible("model")
        return [m for m in registry.models() if visible is None or m in visible]

    @route("GET", "/{name}/versions", MODEL_READ)
    def versions(name: str) -> list[Any]:
        return encode(registry.versions(name))

    @route("GET", "/{name}/versions/{version}", MODEL_READ)
    def version(name: str, version: str) -> Any:
        found = registry.get(name, int(version)) if version.isdigit() else \
            registry.resolve(f"{name}@{version}")
        return encode(found)

    @route("GET", "/{name}/versions/{version}/package", MODEL_READ)
    def package(name: str, version: int) -> StreamingResponse:
        path = registry.package_path(registry.get(name, version))
        return StreamingResponse(_chunks(path), media_type="application/gzip")

    @route("GET", "/{name}/aliases", MODEL_READ)
    def aliases(name: str) -> dict[str, int]:
        return registry.aliases(name)

    @route("GET", "/{name}/transitions", MODEL_READ)
    def transitions(name: str) -> list[Any]:
        return encode(registry.transitions(name))

    @route("POST", "/{name}/versions", MODEL_WRITE)
    def register(request: Request, name: str, body: dict[str, Any] = Body(...)) -> Any:
        return applied_once(store, request, lambda: encode(registry.register(
            name, str(body["run_id"]), contract=body["contract"],
            reference_profile=body["reference_profile"],
            description=body.get("description"))))

    @route("POST", "/{name}/versions/{version}/promote",
           Access("writer", "model", "path:name", promote="to"))
    def promote_version(request: Request, name: str, version: int,
                        body: dict[str, Any] = Body(...)) -> Any:
        def work() -> Any:
            result = promote(registry, name, version, to=str(body.get("to") or "production"),
                             config=load_gate_config(), dry_run=bool(body.get("dry_run")),
                             reason=body.get("reason"), raise_on_failure=False)
            return {"version": encode(result.model), "to": result.to_stage,
                    "promoted": result.promoted, "previous": result.previous,
                    "gates": [g.to_dict() for g in result.gates]}
        return applied_once(store, request, work)

    @route("POST", "/{name}/rollback",
           Access("writer", "model", "path:name", promote="always"))
    def rollback_model(request: Request, name: str,
                       body: dict[str, Any] = Body(default={})) -> Any:
        return applied_once(store, request, lambda: encode(rollback(
            registry, name, reason=(body or {}).get("reason"))))
