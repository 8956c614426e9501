"""``lockgate server``: one guarded FastAPI app in front of the metadata store and the
artifact root, for a team.

- ``/api/v1``: the REST API (:mod:`lockgate.server.api`, :mod:`lockgate.server.registry_api`),
  described at ``/api/v1/openapi.json``.
- ``/``: the dashboard (``lockgate.ui``) behind the same users; ``/audit``: the audit log
  (admins); ``/login``: a form that sets the token as an HttpOnly, SameSite=Strict cookie.
- ``/health``: the only route open without a token.

The network defaults of every lockgate server apply (:mod:`lockgate.security`): bound to
127.0.0.1 unless told otherwise, ``Host`` and ``Origin`` checked, bodies and connections
limited. Users authenticate with API tokens (:mod:`lockgate.security.accounts`); the
auth middleware (:mod:`lockgate.server.access`) refuses everything else and enforces
every route's rule.
"""

from __future__ import annotations

import dataclasses
import html
import json
import time
import urllib.parse
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount

from lockgate.config import Settings
from lockgate.errors import LockgateError, NotFoundError
from lockgate.security import GuardPolicy, HttpGuard, ServerThread, server_config
from lockgate.security.accounts import authenticate
from lockgate.server.access import (
    ACCESS_KEY,
    COOKIE,
    OPEN_PATHS,
    Access,
    AuthMiddleware,
    RateLimiter,
)
from lockgate.server.api import CHUNK_BYTES, add_api_routes
from lockgate.server.lineage_api import add_lineage_routes
from lockgate.server.monitoring_api import add_monitoring_routes
from lockgate.server.registry_api import add_registry_routes
from lockgate.server.retention_api import add_retention_routes
from lockgate.server.views_api import add_views_routes
from lockgate.store import Store, audit

SERVER = "lockgate server"
TOKEN_ENV = "LOCKGATE_TOKEN"  # noqa: S105 (a variable name)
OPEN = {ACCESS_KEY: {"role": "open"}}  # the allowlist's routes (access.OPEN_PATHS)


def server_policy(settings: Settings, host: str = "127.0.0.1") -> GuardPolicy:
    """The guard of ``lockgate server``: its own users do the authentication, so the
    guard checks Host, Origin and limits (bodies up to one upload chunk)."""
    return GuardPolicy(server=SERVER, host=host, token=None, token_env=TOKEN_ENV,
                       allowed_hosts=tuple(settings.allowed_hosts), open_paths=OPEN_PATHS,
                       json_only=False, max_body_bytes=CHUNK_BYTES + (64 << 10))


def create_server_app(settings: Settings, *, host: str = "127.0.0.1",
                      limiter: RateLimiter | None = None,
                      policy: GuardPolicy | None = None) -> FastAPI:
    """The team server's app over the embedded store of ``settings`` (``policy``: the
    guard, default :func:`server_policy`)."""
    settings = dataclasses.replace(settings, tracking_uri=None)  # the server IS the store
    store = Store.open(settings)
    # No Swagger page: it loads its scripts from a CDN. The OpenAPI document is a route
    # like any other, with its own access rule.
    app = FastAPI(title=SERVER, version="1", openapi_url=None, docs_url=None,
                  redoc_url=None)
    app.state.store = store
    app.state.limiter = limiter = limiter or RateLimiter()
    app.add_middleware(AuthMiddleware, store=store, limiter=limiter,
                       routes=lambda: app.router.routes)
    app.add_middleware(HttpGuard, policy=policy or server_policy(settings, host))
    _errors(app)

    @app.get("/health", openapi_extra=OPEN)
    def health() -> dict[str, Any]:
        return {"status": "ok", "server": SERVER}

    @app.get("/api/v1/openapi.json", include_in_schema=False,
             openapi_extra=Access("reader").extra())
    def openapi() -> dict[str, Any]:
        return app.openapi()

    _login_routes(app, store)

    @app.get("/audit", response_class=HTMLResponse,
             openapi_extra={ACCESS_KEY: {"role": "admin", "scope": "global"}})
    def audit_page(action: str | None = None, actor: str | None = None) -> str:
        return _audit_page(audit.entries(store, action=action or None, actor=actor or None,
                                         limit=500))

    add_api_routes(app, store, settings)
    add_registry_routes(app, store, settings)
    add_lineage_routes(app, store, settings)
    add_retention_routes(app, store, settings)
    add_views_routes(app, store)
    add_monitoring_routes(app, store, settings)
    app.router.routes.append(Mount("/", app=_dashboard(settings, host)))
    return app


def _errors(app: FastAPI) -> None:
    @app.exception_handler(LockgateError)
    async def lockgate_error(_request: Request, exc: LockgateError) -> JSONResponse:
        status = 404 if isinstance(exc, NotFoundError) else 403 \
            if isinstance(exc, PermissionError) else 400
        kind = type(exc)
        return JSONResponse({"detail": str(exc), "error": f"{kind.__module__}.{kind.__qualname__}"},
                            status_code=status)

    @app.exception_handler(KeyError)
    @app.exception_handler(ValueError)
    @app.exception_handler(TypeError)
    async def bad_request(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": f"Bad request: {type(exc).__name__}: {exc}"[:500],
                             "error": "BadRequest"}, status_code=400)


def _login_routes(app: FastAPI, store: Store) -> None:
    @app.get("/login", response_class=HTMLResponse, openapi_extra=OPEN)
    def login_form(next: str = "/") -> str:
        target = html.escape(_local(next), quote=True)
        return ("<!doctype html><meta charset='utf-8'><title>lockgate server</title>"
                "<h1>lockgate server</h1><form method='post' action='/login'>"
                f"<input type='hidden' name='next' value='{target}'>"
                "<label>API token <input type='password' name='token' autofocus></label> "
                "<button>Log in</button></form>")

    @app.post("/login", openapi_extra=OPEN)
    async def login(request: Request) -> Response:
        limiter: RateLimiter = request.app.state.limiter
        client = request.client.host if request.client else "?"
        if limiter.blocked(client):
            return HTMLResponse("<p>Too many failed logins; wait a minute.</p>",
                                status_code=429)
        form = urllib.parse.parse_qs((await request.body())[:4096].decode("utf-8", "replace"))
        token = (form.get("token") or [""])[0]
        if authenticate(store, token) is None:
            limiter.failed(client)
            return HTMLResponse("<p>Unknown, expired or revoked token. <a href='/login'>"
                                "Try again</a></p>", status_code=401)
        response = RedirectResponse(_local((form.get("next") or ["/"])[0]), status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", max_age=86400)
        return response


def _local(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _dashboard(settings: Settings, host: str) -> Any:
    from lockgate.ui import AccessPolicy, create_app

    return create_app(settings, AccessPolicy(host=host, allowed_hosts=settings.allowed_hosts,
                                             insecure=True))


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


class TeamServer(ServerThread):
    """``lockgate server`` on a background thread (tests, the quickstart, benches)."""

    def __init__(self, settings: Settings, *, host: str = "127.0.0.1", port: int = 0,
                 **limits: Any) -> None:
        from lockgate.serving.server import free_port

        policy = dataclasses.replace(server_policy(settings, host), **limits)
        self.app = create_server_app(settings, host=host, policy=policy)
        super().__init__(server_config(self.app, policy, port=port or free_port(host)))


def serve(settings: Settings, *, host: str = "127.0.0.1", port: int = 8700,
          workers: int = 1) -> None:
    """Serve until interrupted."""
    from lockgate.security import run_server

    app = create_server_app(settings, host=host)
    run_server(server_config(app, server_policy(settings, host), port=port))
    del workers
