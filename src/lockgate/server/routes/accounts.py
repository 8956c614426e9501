"""Who am I, and the admin's users, tokens, grants and audit log over ``/api/v1``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Query

from lockgate.security import accounts
from lockgate.server.routes.responses import PlainAnswerRoute, ok
from lockgate.server.routes.rules import ADMIN, API, SEEN
from lockgate.server.state import PrincipalDep, TeamDep
from lockgate.server.wire import encode
from lockgate.store import audit

router = APIRouter(prefix=API, route_class=PlainAnswerRoute)


@router.get("/whoami", openapi_extra=SEEN.extra())
def whoami(user: PrincipalDep) -> dict[str, Any]:
    return encode(user)


@router.get("/users", openapi_extra=ADMIN.extra())
def users(team: TeamDep) -> list[Any]:
    return [{"name": name, "role": role} for name, role in accounts.users(team.store)]


@router.post("/users", openapi_extra=ADMIN.extra())
def create_user(team: TeamDep, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    accounts.create_user(team.store, str(body["name"]), str(body.get("role") or "reader"))
    return ok()


@router.post("/users/{name}/tokens", openapi_extra=ADMIN.extra())
def create_token(team: TeamDep, name: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    expires = body.get("expires_in_s")
    token = accounts.issue_token(team.store, name, label=body.get("label"),
                                 expires_in_s=None if expires is None else float(expires))
    return {"token": token, "id": accounts.token_id(token)}


@router.put("/users/{name}/grants", openapi_extra=ADMIN.extra())
def set_grant(team: TeamDep, name: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    accounts.set_grant(team.store, name, str(body["kind"]), str(body["name"]),
                       str(body["role"]), promote=bool(body.get("promote")))
    return ok()


@router.get("/tokens", openapi_extra=ADMIN.extra())
def tokens(team: TeamDep, user: str | None = None) -> list[Any]:
    return [{**encode(info), "active": info.active}
            for info in accounts.list_tokens(team.store, user)]


@router.delete("/tokens/{token_id}", openapi_extra=ADMIN.extra())
def revoke(team: TeamDep, token_id: str) -> dict[str, Any]:
    accounts.revoke_token(team.store, token_id)
    return ok()


@router.get("/audit", openapi_extra=ADMIN.extra())
def audit_log(team: TeamDep, action: str | None = None, actor: str | None = None,
              target: str | None = None, since: float | None = None,
              limit: int = Query(100, ge=1, le=10_000)) -> list[Any]:
    return [audit.entry_dict(e) for e in audit.entries(
        team.store, action=action, actor=actor, target=target, since=since, limit=limit)]
