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
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Body, HTTPException, Request
from fastapi.responses import StreamingResponse

from lockgate.artifacts.blob_store import key_from_uri
from lockgate.config import Settings
from lockgate.registry import (
    GateConfig,
    Registry,
    RegistryError,
    ShadowEvidence,
    extract_archive,
)
from lockgate.registry.model_version import STAGE_ALIASES, _details
from lockgate.registry.promotion import PromotionResult, promote, rollback
from lockgate.registry.registry_backend import NewVersion
from lockgate.security.accounts import Principal
from lockgate.server.access import Access
from lockgate.server.idempotency import applied_once
from lockgate.server.routes.responses import PlainAnswerRoute, streamed, then_ok
from lockgate.server.routes.rules import API, MODEL_READ, MODEL_WRITE
from lockgate.server.state import PrincipalDep, TeamDep
from lockgate.server.wire import encode
from lockgate.store import audit

router = APIRouter(prefix=API + "/models", route_class=PlainAnswerRoute)
READ = MODEL_READ.extra()
WRITE = MODEL_WRITE.extra()

# -- reading ------------------------------------------------------------------------


@router.get("", openapi_extra=Access("reader", "any").extra())
def models(team: TeamDep, user: PrincipalDep) -> list[str]:
    visible = user.visible("model")
    return [m for m in team.registry.models() if visible is None or m in visible]


@router.get("/{name}", openapi_extra=READ)
def model(team: TeamDep, name: str) -> dict[str, Any]:
    team.registry.backend.require_model(name)
    return {"name": name}


@router.get("/{name}/versions", openapi_extra=READ)
def versions(team: TeamDep, name: str) -> list[Any]:
    return encode(team.registry.versions(name))


@router.get("/{name}/next-version", openapi_extra=READ)
def next_version(team: TeamDep, name: str) -> dict[str, int]:
    return {"version": team.registry.backend.next_version(name)}


@router.get("/{name}/versions/{version}", openapi_extra=READ)
def version(team: TeamDep, name: str, version: str) -> Any:
    registry = team.registry
    found = registry.get(name, int(version)) if version.isdigit() else \
        registry.resolve(f"{name}@{version}")
    return encode(found)


@router.get("/{name}/versions/{version}/package", openapi_extra=READ)
def package(team: TeamDep, name: str, version: int) -> StreamingResponse:
    registry = team.registry
    return streamed(registry.artifacts.blobs.local_copy(
        registry.get(name, version).package_sha256), "application/gzip")


@router.get("/{name}/versions/{version}/card", openapi_extra=READ)
def card(team: TeamDep, name: str, version: int) -> dict[str, str]:
    folder = team.registry.package_path(team.registry.get(name, version))
    return {"markdown": (folder / "MODEL_CARD.md").read_text(encoding="utf-8")}


@router.get("/{name}/aliases", openapi_extra=READ)
def aliases(team: TeamDep, name: str) -> dict[str, int]:
    return team.registry.aliases(name)


@router.get("/{name}/aliases/{alias}", openapi_extra=READ)
def alias(team: TeamDep, name: str, alias: str) -> dict[str, int | None]:
    return {"version": team.registry.alias_version(name, alias)}


@router.get("/{name}/transitions", openapi_extra=READ)
def transitions(team: TeamDep, name: str) -> list[Any]:
    return encode(team.registry.transitions(name))


@router.get("/{name}/notes", openapi_extra=READ)
def notes(team: TeamDep, name: str) -> list[Any]:
    return encode(team.registry.notes(name))

# -- changing -----------------------------------------------------------------------


@router.post("/{name}/versions", openapi_extra=WRITE)
def register(request: Request, team: TeamDep, user: PrincipalDep, name: str,
             body: dict[str, Any] = Body(...)) -> Any:
    new = _checked_version(team.registry, name, body, _actor(user, body))
    return applied_once(team.store, request,
                        lambda: encode(team.registry.backend.add_version(new)))


@router.post("/{name}/notes", openapi_extra=WRITE)
def add_note(request: Request, team: TeamDep, user: PrincipalDep, name: str,
             body: dict[str, Any] = Body(...)) -> Any:
    author = _actor(user, {"actor": body.get("author")})
    version = body.get("version")
    return applied_once(team.store, request, then_ok(lambda: team.registry.add_note(
        name, str(body["text"]), author=author,
        version=None if version is None else int(version))))


@router.post("/{name}/aliases/{alias}", openapi_extra=WRITE)
def set_alias(request: Request, team: TeamDep, user: PrincipalDep, name: str, alias: str,
              body: dict[str, Any] = Body(...)) -> Any:
    actor = _actor(user, body)
    return applied_once(team.store, request, lambda: encode(team.registry.set_alias(
        name, alias, int(body["version"]), actor=actor, reason=body.get("reason"))))


@router.post("/{name}/versions/{version}/stage", openapi_extra=WRITE)
def stage(request: Request, team: TeamDep, user: PrincipalDep, name: str, version: int,
          body: dict[str, Any] = Body(...)) -> Any:
    to = str(body["to"])
    if to in STAGE_ALIASES:
        raise RegistryError(
            f"`{to}` is reached through the gates: POST {API}/models/{name}/versions/"
            f"{version}/promote (`lockgate.registry.promote`); an admin may override "
            "the gates (…/override).")
    return applied_once(team.store, request, lambda: _moved(
        team.registry, name, version, body, _actor(user, body)))


@router.post("/{name}/versions/{version}/override",
             openapi_extra=Access("admin", "model", "path:name", promote="to").extra())
def override(request: Request, team: TeamDep, user: PrincipalDep, name: str, version: int,
             body: dict[str, Any] = Body(...)) -> Any:
    actor = _actor(user, body)
    registry = team.registry

    def work() -> dict[str, Any]:
        before = registry.get(name, version)
        moved = _moved(registry, name, version, body, actor)
        audit.record(team.store, "gate.overridden", f"model:{before.ref}",
                     before={"stage": before.stage, "aliases": list(before.aliases)},
                     after={"stage": moved["stage"], "reason": body.get("reason")})
        return moved
    return applied_once(team.store, request, work)


@router.post("/{name}/versions/{version}/promote",
             openapi_extra=Access("writer", "model", "path:name", promote="to").extra())
def promote_version(request: Request, team: TeamDep, user: PrincipalDep, name: str,
                    version: int, body: dict[str, Any] = Body(...)) -> Any:
    actor = _actor(user, body)
    to = str(body.get("to") or "production")

    config, given = _gates_for(team.gate_config(), user, body.get("config"))

    def work() -> dict[str, Any]:
        if given:
            audit.record(team.store, "gate.configured", f"model:{name}@{int(version)}",
                         before=team.gate_config().model_dump(mode="json"),
                         after=config.model_dump(mode="json"))
        shadow = _shadow(team.settings, config, name, version, to)
        _same_shadow(shadow, body.get("shadow"))
        return promotion_json(promote(
            team.registry, name, version, to=to, config=config,
            dry_run=bool(body.get("dry_run")), actor=actor, reason=body.get("reason"),
            raise_on_failure=False, shadow=shadow))
    return applied_once(team.store, request, work)


@router.post("/{name}/rollback",
             openapi_extra=Access("writer", "model", "path:name", promote="always").extra())
def rollback_model(request: Request, team: TeamDep, user: PrincipalDep, name: str,
                   body: dict[str, Any] = Body(default={})) -> Any:
    body = body or {}
    actor = _actor(user, body)
    return applied_once(team.store, request, lambda: encode(rollback(
        team.registry, name, actor=actor, reason=body.get("reason"))))


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


def _gates_for(config: GateConfig, user: Principal, expected: Any
               ) -> tuple[GateConfig, bool]:
    """The gates a promotion runs, and whether they are the caller's.

    A caller may name gates (``promote(..., config=...)``). An admin's are applied and
    audited (``gate.configured``, before: the server's): an admin may skip the gates
    altogether (``…/override``), so choosing them is less. Anyone else's are what it
    expects: checked against the server's, never applied; a difference is refused,
    naming it."""
    if expected is None:
        return config, False
    if not isinstance(expected, dict):
        raise RegistryError("`config` must be the gate configuration as an object.")
    given = GateConfig(**expected)
    theirs = given.model_dump(mode="json")
    ours = config.model_dump(mode="json")
    differ = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
    if not differ:
        return config, False
    if user.role == "admin":
        return given, True
    if differ:
        raise RegistryError(
            "promote(..., config=...) differs from the gates lockgate server runs in "
            + ", ".join(f"`{k}` (server {ours.get(k)!r}, yours {theirs.get(k)!r})"
                        for k in differ)
            + ": the server runs its operator's gates (its lockgate.yaml `gates`, or "
            "`TeamServer(gates=...)`). Drop `config=` or ask an admin to change them.")
    return config, False


def _same_shadow(ours: ShadowEvidence | None, expected: Any) -> None:
    """A caller's shadow evidence says which shadow period it judged; the server judges
    from its own reading of the same shadow log (the statistics are its own: their
    bootstrap depends on the order rows are read in). Refused when the period differs:
    another version, or other counts of predictions and labels."""
    if expected is None:
        return
    if not isinstance(expected, dict):
        raise RegistryError("`shadow` must be shadow evidence as an object.")
    fields = ("version", "predictions", "labeled")
    found = None if ours is None else {k: getattr(ours, k) for k in fields}
    theirs = {k: expected.get(k) for k in fields}
    if found != theirs:
        raise RegistryError(
            f"promote(..., shadow=...) describes another shadow period than lockgate "
            f"server reads from its own logs (server {found}, yours {theirs}): the server "
            "judges the shadow period from what it reads. Drop `shadow=`, or wait for "
            "the server's log to hold what yours does.")


def _shadow(settings: Settings, config: GateConfig, name: str, version: int,
            to: str) -> ShadowEvidence | None:
    """The server's own shadow evidence, when its gates ask for a shadow period."""
    if to != "production" or config.shadow is None:
        return None
    from lockgate.monitoring.shadow_report import shadow_evidence

    return shadow_evidence(settings, name, version)


def _actor(user: Principal, body: dict[str, Any]) -> str:
    """The token's user; a request naming anyone else as the actor is refused (the
    history must say who really acted)."""
    named = body.get("actor")
    if named not in (None, "", user.user):
        raise HTTPException(403, f"You are `{user.user}`: the server records who acts from "
                            f"the token and will not record `{named}`; drop `actor=`.")
    return user.user
