"""``lockgate server``: one guarded FastAPI app in front of the metadata store and the
artifact root, for a team.

- ``/api/v1``: the REST API, one router per resource (:mod:`lockgate.server.routes`),
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
from typing import TYPE_CHECKING, Any, cast

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import RouteContext, iter_route_contexts
from starlette.routing import Mount

from lockgate.config import Settings
from lockgate.errors import LockgateError, NotFoundError
from lockgate.security import GuardPolicy, HttpGuard, ServerThread, server_config
from lockgate.server.access import OPEN_PATHS, AuthMiddleware, RateLimiter
from lockgate.server.routes import (
    accounts,
    artifacts,
    datasets,
    lineage,
    models,
    monitoring,
    pages,
    pipelines,
    quality,
    retention,
    run_records,
    runs,
    uploads,
    views,
)
from lockgate.server.routes.pages import SERVER
from lockgate.server.routes.uploads import CHUNK_BYTES
from lockgate.server.state import TeamServerState
from lockgate.store import Store

if TYPE_CHECKING:
    from lockgate.registry import GateConfig

TOKEN_ENV = "LOCKGATE_TOKEN"  # noqa: S105 (a variable name)
#: Every router of the team server, in the order their routes are matched; the
#: dashboard is mounted at ``/`` after them.
ROUTERS: tuple[APIRouter, ...] = (
    pages.router, accounts.router, runs.router, run_records.router, artifacts.router,
    uploads.router, lineage.router, datasets.router, models.router, retention.router,
    views.router, monitoring.router, pipelines.router, quality.router)


def server_policy(settings: Settings, host: str = "127.0.0.1") -> GuardPolicy:
    """The guard of ``lockgate server``: its own users do the authentication, so the
    guard checks Host, Origin and limits (bodies up to one upload chunk)."""
    return GuardPolicy(server=SERVER, host=host, token=None, token_env=TOKEN_ENV,
                       allowed_hosts=tuple(settings.allowed_hosts), open_paths=OPEN_PATHS,
                       json_only=False, max_body_bytes=CHUNK_BYTES + (64 << 10))


def create_server_app(settings: Settings, *, host: str = "127.0.0.1",
                      limiter: RateLimiter | None = None,
                      policy: GuardPolicy | None = None,
                      gates: GateConfig | None = None) -> FastAPI:
    """The team server's app over the embedded store of ``settings`` (``policy``: the
    guard, default :func:`server_policy`; ``gates``: the promotion gates it runs,
    default the ``gates`` of ``lockgate.yaml`` read at each promotion)."""
    settings = dataclasses.replace(settings, tracking_uri=None)  # the server IS the store
    store = Store.open(settings)
    # No Swagger page: it loads its scripts from a CDN. The OpenAPI document is a route
    # like any other, with its own access rule.
    app = FastAPI(title=SERVER, version="1", openapi_url=None, docs_url=None,
                  redoc_url=None)
    limiter = limiter or RateLimiter()
    TeamServerState.open(settings, store, limiter, gates=gates).attach(app)
    app.add_middleware(AuthMiddleware, store=store, limiter=limiter,
                       routes=lambda: flat_routes(app))
    app.add_middleware(HttpGuard, policy=policy or server_policy(settings, host))
    add_error_answers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.router.routes.append(Mount("/", app=_dashboard(settings, host)))
    return app


def flat_routes(app: FastAPI) -> list[RouteContext]:
    """Every route of ``app`` with the routes of included routers expanded (FastAPI keeps
    an included router as one node of ``app.routes``), in matching order: what the auth
    middleware matches a request against. Remembered until the app's routes change."""
    key = tuple(map(id, app.router.routes))
    cached = app.state._flat_routes if hasattr(app.state, "_flat_routes") else None
    if cached is None or cached[0] != key:
        cached = (key, list(iter_route_contexts(app.router.routes)))
        app.state._flat_routes = cached
    return cast(list[RouteContext], cached[1])


def add_error_answers(app: FastAPI) -> None:
    """A :class:`LockgateError` answers 404 (not found), 403 (refused) or 400 with its
    class; a ``KeyError``/``ValueError``/``TypeError`` from a handler is a bad request."""
    app.add_exception_handler(LockgateError, lockgate_error)  # type: ignore[arg-type]
    for kind in (KeyError, ValueError, TypeError):
        app.add_exception_handler(kind, bad_request)


async def lockgate_error(_request: Request, exc: LockgateError) -> JSONResponse:
    status = 404 if isinstance(exc, NotFoundError) else 403 \
        if isinstance(exc, PermissionError) else 400
    kind = type(exc)
    return JSONResponse({"detail": str(exc), "error": f"{kind.__module__}.{kind.__qualname__}"},
                        status_code=status)


async def bad_request(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": f"Bad request: {type(exc).__name__}: {exc}"[:500],
                         "error": "BadRequest"}, status_code=400)


def _dashboard(settings: Settings, host: str) -> FastAPI:
    from lockgate.ui import AccessPolicy, create_dashboard_app

    return create_dashboard_app(settings, AccessPolicy(
        host=host, allowed_hosts=settings.allowed_hosts, insecure=True))


class TeamServer(ServerThread):
    """``lockgate server`` on a background thread (tests, the quickstart, benches)."""

    def __init__(self, settings: Settings, *, host: str = "127.0.0.1", port: int = 0,
                 gates: GateConfig | None = None, **limits: Any) -> None:
        from lockgate.serving.server import free_port

        policy = dataclasses.replace(server_policy(settings, host), **limits)
        self.app = create_server_app(settings, host=host, policy=policy, gates=gates)
        super().__init__(server_config(self.app, policy, port=port or free_port(host)))


def serve(settings: Settings, *, host: str = "127.0.0.1", port: int = 8700,
          workers: int = 1) -> None:
    """Serve until interrupted."""
    from lockgate.security import run_server

    app = create_server_app(settings, host=host)
    run_server(server_config(app, server_policy(settings, host), port=port))
    del workers
