"""The dashboard application: the routers of :mod:`lockgate.ui.routes` composed behind
the shared guard, with security headers and error pages.

Pages are rendered on the server from the metadata store; the browser loads only
``/static/plotly.min.js`` (straight from the installed plotly package), ``app.js`` and
``style.css`` from this package. No CDN, no network.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from lockgate.config import Settings
from lockgate.errors import LockgateError, NotFoundError
from lockgate.security import HttpGuard
from lockgate.ui.access import AccessError, AccessPolicy
from lockgate.ui.dashboard import Dashboard
from lockgate.ui.html import banner, page
from lockgate.ui.routes import data, files, login, models, pipelines, runs

#: Every router of the dashboard, in the order their routes are matched.
ROUTERS: tuple[APIRouter, ...] = (runs.router, pipelines.router, data.router, models.router,
                                  files.router, login.router)
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def create_dashboard_app(settings: Settings, policy: AccessPolicy | None = None) -> FastAPI:
    """Build the dashboard for the store named by ``settings``.

    Args:
        settings: where the metadata store and artifacts live.
        policy: bind address and token; default is loopback, read-only, no token.

    Raises:
        ConfigError: the policy refuses to serve (see :meth:`AccessPolicy.check_start`).
    """
    policy = policy or AccessPolicy()
    policy.check_start()
    app = FastAPI(title="lockgate dashboard", docs_url=None, redoc_url=None,
                  openapi_url=None)
    Dashboard.open(settings, policy).attach(app)
    app.middleware("http")(security_headers)
    app.add_middleware(HttpGuard, policy=policy.guard(tuple(settings.allowed_hosts)))
    add_error_pages(app)
    for router in ROUTERS:
        app.include_router(router)
    return app


async def security_headers(request: Request,
                           call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Every page, error pages included, forbids framing, sniffing and foreign scripts."""
    response = await call_next(request)
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def add_error_pages(app: FastAPI) -> None:
    """Show a :class:`LockgateError` as a page: 404 not found, 403 refused, else 400."""
    app.add_exception_handler(LockgateError, error_page)  # type: ignore[arg-type]


async def error_page(_request: Request, exc: LockgateError) -> HTMLResponse:
    """The page for one refused or failed request, its message as the banner."""
    status = 404 if isinstance(exc, NotFoundError) else 403 \
        if isinstance(exc, AccessError) else 400
    title = "Not found" if status == 404 else "Cannot show this"
    return HTMLResponse(page(title, banner(str(exc)) + "<p><a href='/'>Back to runs</a></p>"),
                        status_code=status)
