"""The team server's own pages: ``/health`` (open), the OpenAPI document, the login
form (open; it sets the token as an HttpOnly, SameSite=Strict cookie) and the audit
log page (admins)."""

from __future__ import annotations

import html
import json
import time
import urllib.parse
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from lockgate.security.accounts import authenticate
from lockgate.server.access import ACCESS_KEY, COOKIE, Access
from lockgate.server.routes.responses import PlainAnswerRoute
from lockgate.server.routes.rules import API
from lockgate.server.state import TeamDep
from lockgate.store import audit

SERVER = "lockgate server"
OPEN = {ACCESS_KEY: {"role": "open"}}  # the allowlist's routes (access.OPEN_PATHS)
router = APIRouter(route_class=PlainAnswerRoute)


@router.get("/health", openapi_extra=OPEN)
def health() -> dict[str, Any]:
    return {"status": "ok", "server": SERVER}


@router.get(API + "/openapi.json", include_in_schema=False,
            openapi_extra=Access("reader").extra())
def openapi(request: Request) -> dict[str, Any]:
    return request.app.openapi()


@router.get("/login", response_class=HTMLResponse, openapi_extra=OPEN)
def login_form(next: str = "/") -> str:
    target = html.escape(_local(next), quote=True)
    return ("<!doctype html><meta charset='utf-8'><title>lockgate server</title>"
            "<h1>lockgate server</h1><form method='post' action='/login'>"
            f"<input type='hidden' name='next' value='{target}'>"
            "<label>API token <input type='password' name='token' autofocus></label> "
            "<button>Log in</button></form>")


@router.post("/login", openapi_extra=OPEN)
async def login(request: Request, team: TeamDep) -> Response:
    client = request.client.host if request.client else "?"
    if team.limiter.blocked(client):
        return HTMLResponse("<p>Too many failed logins; wait a minute.</p>", status_code=429)
    form = urllib.parse.parse_qs((await request.body())[:4096].decode("utf-8", "replace"))
    token = (form.get("token") or [""])[0]
    if await run_in_threadpool(authenticate, team.store, token) is None:
        team.limiter.failed(client)
        return HTMLResponse("<p>Unknown, expired or revoked token. <a href='/login'>"
                            "Try again</a></p>", status_code=401)
    response = RedirectResponse(_local((form.get("next") or ["/"])[0]), status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", max_age=86400)
    return response


@router.get("/audit", response_class=HTMLResponse,
            openapi_extra={ACCESS_KEY: {"role": "admin", "scope": "global"}})
def audit_page(team: TeamDep, action: str | None = None, actor: str | None = None) -> str:
    return _audit_page(audit.entries(team.store, action=action or None,
                                     actor=actor or None, limit=500))


def _local(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _audit_page(entries: list[audit.AuditEntry]) -> str:
    rows = "".join(
        f"<tr><td>{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(e.at))}</td>"
        f"<td>{html.escape(e.actor)}</td><td>{html.escape(e.action)}</td>"
        f"<td>{html.escape(e.target)}</td><td><code>{html.escape(json.dumps(e.before))}"
        f"</code></td><td><code>{html.escape(json.dumps(e.after))}</code></td></tr>"
        for e in entries)
    return ("<!doctype html><meta charset='utf-8'><title>Audit log</title><h1>Audit log</h1>"
            "<form><input name='action' placeholder='action'> <input name='actor' "
            "placeholder='actor'> <button>Filter</button></form><table><thead><tr>"
            "<th>time (UTC)</th><th>actor</th><th>action</th><th>target</th><th>before</th>"
            f"<th>after</th></tr></thead><tbody>{rows}</tbody></table>"
            "<p><a href='/'>Dashboard</a></p>")
