"""The registry over ``/api/v1/models``: read models, versions, aliases, history and
notes; record a version whose package the client uploaded; move free aliases and
unguarded stages; promote through the gates (the server's gate configuration and its
own shadow evidence, never the caller's); roll back; and an admin's gate override.

Moving ``production`` needs the separate right to promote. Each route calls the
server's :class:`~lockgate.registry.Registry` (the embedded backend), so the client
and a local registry run the same code; every state change is audited with the
authenticated user, and the actor a request names must be that user.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Body, FastAPI, HTTPException, Request
from fastapi.responses import StreamingResponse

from lockgate.artifacts.blob_store import key_from_uri
from lockgate.config import Settings
from lockgate.registry import Registry, RegistryError, extract_archive, load_gate_config
from lockgate.registry.model_version import STAGE_ALIASES, _details
from lockgate.registry.promotion import PromotionResult, promote, rollback
from lockgate.registry.registry_backend import NewVersion
from lockgate.server.access import Access
from lockgate.server.api import API, _chunks, _principal, applied_once
from lockgate.server.wire import encode
from lockgate.store import Store, audit

MODEL_READ = Access("reader", "model", "path:name")
MODEL_WRITE = Access("writer", "model", "path:name")


def add_registry_routes(app: FastAPI, store: Store, settings: Settings) -> None:
    """Add the registry routes over the server's store and artifact root."""
    registry = Registry(store, settings)

    def route(method: str, path: str, access: Access) -> Callable[..., Any]:
        return app.api_route(f"{API}/models{path}", methods=[method],
                             openapi_extra=access.extra())

    _add_reads(route, registry)

    @route("POST", "/{name}/versions", MODEL_WRITE)
    def register(request: Request, name: str, body: dict[str, Any] = Body(...)) -> Any:
        new = _checked_version(registry, name, body, _actor(request, body))
        return applied_once(store, request, lambda: encode(registry.backend.add_version(new)))

    @route("POST", "/{name}/notes", MODEL_WRITE)
    def add_note(request: Request, name: str, body: dict[str, Any] = Body(...)) -> Any:
        author = _actor(request, {"actor": body.get("author")})
        version = body.get("version")

        def work() -> dict[str, Any]:
            registry.add_note(name, str(body["text"]), author=author,
                              version=None if version is None else int(version))
            return {"ok": True}
        return applied_once(store, request, work)

    @route("POST", "/{name}/aliases/{alias}", MODEL_WRITE)
    def set_alias(request: Request, name: str, alias: str,
                  body: dict[str, Any] = Body(...)) -> Any:
        actor = _actor(request, body)
        return applied_once(store, request, lambda: encode(registry.set_alias(
            name, alias, int(body["version"]), actor=actor, reason=body.get("reason"))))

    @route("POST", "/{name}/versions/{version}/stage", MODEL_WRITE)
    def stage(request: Request, name: str, version: int,
              body: dict[str, Any] = Body(...)) -> Any:
        to = str(body["to"])
        if to in STAGE_ALIASES:
            raise RegistryError(
                f"`{to}` is reached through the gates: POST {API}/models/{name}/versions/"
                f"{version}/promote (`lockgate.registry.promote`); an admin may override "
                "the gates (…/override).")
        return applied_once(store, request, lambda: _moved(registry, name, version, body,
                                                           _actor(request, body)))

    @route("POST", "/{name}/versions/{version}/override",
           Access("admin", "model", "path:name", promote="to"))
    def override(request: Request, name: str, version: int,
                 body: dict[str, Any] = Body(...)) -> Any:
        actor = _actor(request, body)

        def work() -> Any:
            before = registry.get(name, version)
            moved = _moved(registry, name, version, body, actor)
            audit.record(store, "gate.overridden", f"model:{before.ref}",
                         before={"stage": before.stage, "aliases": list(before.aliases)},
                         after={"stage": moved["stage"], "reason": body.get("reason")})
            return moved
        return applied_once(store, request, work)

    @route("POST", "/{name}/versions/{version}/promote",
           Access("writer", "model", "path:name", promote="to"))
    def promote_version(request: Request, name: str, version: int,
                        body: dict[str, Any] = Body(...)) -> Any:
        actor = _actor(request, body)
        to = str(body.get("to") or "production")

        def work() -> Any:
            config = load_gate_config()  # the server's lockgate.yaml, never the caller's
            return promotion_json(promote(
                registry, name, version, to=to, config=config,
                dry_run=bool(body.get("dry_run")), actor=actor, reason=body.get("reason"),
                raise_on_failure=False, shadow=_shadow(settings, config, name, version, to)))
        return applied_once(store, request, work)

    @route("POST", "/{name}/rollback",
           Access("writer", "model", "path:name", promote="always"))
    def rollback_model(request: Request, name: str,
                       body: dict[str, Any] = Body(default={})) -> Any:
        body = body or {}
        actor = _actor(request, body)
        return applied_once(store, request, lambda: encode(rollback(
            registry, name, actor=actor, reason=body.get("reason"))))


def _add_reads(route: Callable[..., Any], registry: Registry) -> None:
    @route("GET", "", Access("reader", "any"))
    def models(request: Request) -> list[str]:
        visible = _principal(request).visible("model")
        return [m for m in registry.models() if visible is None or m in visible]

    @route("GET", "/{name}", MODEL_READ)
    def model(name: str) -> dict[str, Any]:
        registry.backend.require_model(name)
        return {"name": name}

    @route("GET", "/{name}/versions", MODEL_READ)
    def versions(name: str) -> list[Any]:
        return encode(registry.versions(name))

    @route("GET", "/{name}/next-version", MODEL_READ)
    def next_version(name: str) -> dict[str, int]:
        return {"version": registry.backend.next_version(name)}

    @route("GET", "/{name}/versions/{version}", MODEL_READ)
    def version(name: str, version: str) -> Any:
        found = registry.get(name, int(version)) if version.isdigit() else \
            registry.resolve(f"{name}@{version}")
        return encode(found)

    @route("GET", "/{name}/versions/{version}/package", MODEL_READ)
    def package(name: str, version: int) -> StreamingResponse:
        path = registry.artifacts.blobs.local_copy(registry.get(name, version).package_sha256)
        return StreamingResponse(_chunks(path), media_type="application/gzip")

    @route("GET", "/{name}/versions/{version}/card", MODEL_READ)
    def card(name: str, version: int) -> dict[str, str]:
        folder = registry.package_path(registry.get(name, version))
        return {"markdown": (folder / "MODEL_CARD.md").read_text(encoding="utf-8")}

    @route("GET", "/{name}/aliases", MODEL_READ)
    def aliases(name: str) -> dict[str, int]:
        return registry.aliases(name)

    @route("GET", "/{name}/aliases/{alias}", MODEL_READ)
    def alias(name: str, alias: str) -> dict[str, int | None]:
        return {"version": registry.alias_version(name, alias)}

    @route("GET", "/{name}/transitions", MODEL_READ)
    def transitions(name: str) -> list[Any]:
        return encode(registry.transitions(name))

    @route("GET", "/{name}/notes", MODEL_READ)
    def notes(name: str) -> list[Any]:
        return encode(registry.notes(name))


def promotion_json(result: PromotionResult) -> dict[str, Any]:
    """A promotion's outcome as the client rebuilds it."""
    return {"version": encode(result.model), "to": result.to_stage,
            "promoted": result.promoted, "previous": result.previous,
            "dry_run": result.dry_run, "gates": [g.to_dict() for g in result.gates]}


def _checked_version(registry: Registry, name: str, body: dict[str, Any],
                     actor: str) -> NewVersion:
    """The version a client asks to record, once its package proves to be the named
    run's intact package; its details are read from the package, not from the request."""
    run_id = registry.store.resolve_run_id(str(body["run_id"]))
    artifact = registry.store.artifact(int(body["artifact_id"]))
    sha = str(body.get("package_sha256") or "")
    if artifact.run_id != run_id or artifact.name != "model-package" or \
            artifact.sha256 != sha or key_from_uri(artifact.uri) != sha:
        raise RegistryError(
            f"Artifact {artifact.id} is not a model package of run {run_id} with digest "
            f"{sha[:12]}…; upload the package as the run's `model-package` artifact first.")
    with tempfile.TemporaryDirectory(prefix="lockgate-check-") as tmp:
        folder = extract_archive(registry.artifacts.blobs.local_copy(sha), Path(tmp) / "pkg")
        evaluation = json.loads((folder / "evaluation.json").read_text(encoding="utf-8"))
        lineage = json.loads((folder / "lineage.json").read_text(encoding="utf-8"))
    if lineage.get("run_id") != run_id:
        raise RegistryError(f"The package names run {lineage.get('run_id')}, not {run_id}.")
    return NewVersion(name, int(body["version"]), run_id, artifact,
                      _details(evaluation, lineage), actor, body.get("description"))


def _moved(registry: Registry, name: str, version: int, body: dict[str, Any],
           actor: str) -> dict[str, Any]:
    return dict(encode(registry.transition(
        name, version, str(body["to"]), action=str(body.get("action") or "manual"),
        actor=actor, reason=body.get("reason"), gates=list(body.get("gates") or []))))


def _shadow(settings: Settings, config: Any, name: str, version: int, to: str) -> Any:
    """The server's own shadow evidence, when its gates ask for a shadow period."""
    if to != "production" or config.shadow is None:
        return None
    from lockgate.monitoring.shadow_report import shadow_evidence

    return shadow_evidence(settings, name, version)


def _actor(request: Request, body: dict[str, Any]) -> str:
    """The token's user; a request naming anyone else as the actor is refused (the
    history must say who really acted)."""
    user = _principal(request).user
    named = body.get("actor")
    if named not in (None, "", user):
        raise HTTPException(403, f"You are `{user}`: the server records who acts from the "
                            f"token and will not record `{named}`; drop `actor=`.")
    return user



