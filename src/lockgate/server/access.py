"""Deny by default: who may call which route of ``lockgate server``.

Every API route declares an :class:`Access` rule (the role it needs and on what); the
app's one dependency (:func:`authorize`) enforces it before the handler runs, and a route
without a rule is refused with 403 for everyone, so a route added without thinking about
access is unreachable, not open. :class:`AuthMiddleware` sits in front of the whole app
(dashboard included): no principal, no answer, except the explicit allowlist
(``/health``, the login form). Failed token checks are rate-limited per client address.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from lockgate.security.accounts import Principal, authenticate
from lockgate.store import Store

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

#: Paths reachable without a token; an entry ending in ``/`` is a prefix.
OPEN_PATHS = ("/health", "/login", "/static/")
COOKIE = "lockgate_server_token"
ACCESS_KEY = "x-lockgate-access"
PRINCIPAL_KEY = "lockgate.principal"


@dataclass(frozen=True, slots=True)
class Access:
    """The rule of one route.

    Attributes:
        role: the weakest role that may call it (reader, writer, admin).
        scope: where the role must be held: ``global``; ``any`` (globally or on at least
            one experiment/model: content-addressed uploads); ``experiment`` or ``model``.
        source: where the experiment/model name comes from: ``path:<param>``,
            ``body:<field>``, ``run:path`` (the experiment of the run in ``{run_id}``),
            ``run:body`` (of the body's ``run_id``).
        promote: the body field naming a target stage (``production`` then also needs
            the right to promote), or ``always`` (the route always moves production).
    """

    role: str
    scope: str = "global"
    source: str | None = None
    promote: str | None = None

    def extra(self) -> dict[str, Any]:
        """As an OpenAPI extension (``x-lockgate-access``): documented and enumerable."""
        return {ACCESS_KEY: {"role": self.role, "scope": self.scope, "source": self.source,
                             "promote": self.promote}}


class RateLimiter:
    """At most ``limit`` failed token checks per client address per ``window_s``."""

    def __init__(self, limit: int = 20, window_s: float = 60.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def blocked(self, client: str) -> float:
        """Seconds until ``client`` may try again (0: now)."""
        with self._lock:
            recent = self._recent(client, time.monotonic())
            if len(recent) < self.limit:
                return 0.0
            return max(0.0, recent[0] + self.window_s - time.monotonic())

    def failed(self, client: str) -> None:
        with self._lock:
            self._recent(client, time.monotonic()).append(time.monotonic())
            if len(self._failures) > 10_000:  # forget the quietest addresses first
                for key in list(self._failures)[:1000]:
                    del self._failures[key]

    def _recent(self, client: str, now: float) -> deque[float]:
        recent = self._failures.setdefault(client, deque())
        while recent and recent[0] <= now - self.window_s:
            recent.popleft()
        return recent


class AuthMiddleware:
    """ASGI middleware: authenticate every request but the allowlist; 401 otherwise."""

    def __init__(self, app: Any, *, store: Store, limiter: RateLimiter | None = None) -> None:
        self.app = app
        self.store = store
        self.limiter = limiter or RateLimiter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_open(scope["path"]):
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("?", 0))[0]
        wait = self.limiter.blocked(client)
        if wait:
            await _reply(send, 429, f"Too many failed token checks from {client}; try again "
                         f"in {wait:.0f} s.", [(b"retry-after", str(int(wait) + 1).encode())])
            return
        token = presented_token(scope)
        principal = authenticate(self.store, token) if token else None
        if principal is None:
            if token:
                self.limiter.failed(client)
            if scope["method"] == "GET" and not scope["path"].startswith("/api/"):
                target = urllib.parse.quote(scope["path"])
                await _reply(send, 303, "Log in first.", [(b"location",
                                                           f"/login?next={target}".encode())])
                return
            await _reply(send, 401, "Missing, unknown, expired or revoked token: send "
                         "`Authorization: Bearer <token>` (from `lockgate server token "
                         "create`).", [(b"www-authenticate", b"Bearer")])
            return
        scope.setdefault("state", {})[PRINCIPAL_KEY] = principal
        if not scope["path"].startswith("/api/") and not _dashboard_allows(principal, scope):
            await _reply(send, 403, f"User `{principal.user}` ({principal.role}) may not "
                         f"{scope['method']} {scope['path']}.")
            return
        await self.app(scope, receive, send)


def is_open(path: str) -> bool:
    """Whether ``path`` needs no token (the explicit allowlist)."""
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in OPEN_PATHS)


def presented_token(scope: Scope) -> str | None:
    """The bearer token, or the dashboard's login cookie."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1")
               for k, v in reversed(scope.get("headers", []))}
    given = headers.get("authorization", "")
    if given[:7].lower() == "bearer ":
        return given[7:].strip() or None
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            return urllib.parse.unquote(value) or None
    return None


def principal_of(scope: Scope) -> Principal | None:
    """The principal the middleware authenticated for this request."""
    state = scope.get("state") or {}
    found = state.get(PRINCIPAL_KEY)
    return found if isinstance(found, Principal) else None


def _dashboard_allows(principal: Principal, scope: Scope) -> bool:
    """Dashboard pages: reading needs reader (everyone); anything else needs admin (the
    audit page is admin's; notes go through the API)."""
    if scope["path"].startswith("/audit"):
        return principal.role == "admin"
    return scope["method"] in ("GET", "HEAD") or principal.can("writer")


async def _reply(send: Send, status: int, message: str,
                 extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"detail": message}).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode()),
               (b"cache-control", b"no-store"), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
