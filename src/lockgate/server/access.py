"""Deny by default: who may call which route of ``lockgate server``.

Every API route declares an :class:`Access` rule (the role it needs and on what).
:class:`AuthMiddleware` sits in front of the whole app (dashboard included) and is the
one place access is decided: no principal, no answer, except the explicit allowlist
(``/health``, the login form); then it finds the route the request will reach and
enforces its rule. A route without a rule is refused with 403 for everyone, however it
was added (decorator, ``add_route``, a raw ``APIRoute``), so a route added without
thinking about access is unreachable, not open. Failed token checks are rate-limited
per client address.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi.routing import RouteContext, iter_route_contexts
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lockgate.security.accounts import PRINCIPAL_KEY, Principal, authenticate
from lockgate.store import Store

#: Paths reachable without a token; an entry ending in ``/`` is a prefix.
OPEN_PATHS = ("/health", "/login", "/static/")
COOKIE = "lockgate_server_token"
#: How many (method, path) route matches the middleware remembers before starting over.
ROUTE_MEMORY = 4096
ACCESS_KEY = "x-lockgate-access"


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
    """ASGI middleware, the one place access is decided: authenticate every request but
    the allowlist (401), find the route it will reach and enforce that route's rule
    (403); a route without a rule is refused for everyone, however it was added."""

    def __init__(self, app: ASGIApp, *, store: Store,
                 routes: Callable[[], Sequence[BaseRoute | RouteContext]],
                 limiter: RateLimiter | None = None) -> None:
        self.app = app
        self.store = store
        self.routes = routes
        self.limiter = limiter or RateLimiter()
        self.experiments = RunExperiments(store)
        self._matched: dict[tuple[str, str], tuple[Any, dict[str, Any]]] = {}
        self._matched_in: object = None  # the route list ``_matched`` was made for

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
        # The token check and the rule's lookups query the store: they run in the
        # thread pool, so one request's database round trip never stalls the event loop
        # that every other connection of this worker is waiting on.
        principal = await anyio.to_thread.run_sync(authenticate, self.store, token) \
            if token else None
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
        route, params = self._route(scope)
        if route is None:  # nothing answers this path: let the router say 404
            await self.app(scope, receive, send)
            return
        body = b""
        if scope["method"] in ("POST", "PUT", "PATCH", "DELETE"):
            body = await _read(receive)
            receive = _replay(body, receive)
        parsed = _Body(body)
        try:  # most rules need no store lookup (a run's experiment is remembered): no hop
            refusal = self._refusal(principal, scope, route, params, parsed, offline=True)
        except _NeedsStore:
            refusal = await anyio.to_thread.run_sync(self._refusal, principal, scope, route,
                                                     params, parsed)
        if refusal is not None:
            await _reply(send, *refusal)
            return
        await self.app(scope, receive, send)

    def _route(self, scope: Scope) -> tuple[Any, dict[str, Any]]:
        """The route ``scope`` reaches and its path parameters, remembered per method and
        path while the app's routes stay the same list (a run's calls repeat paths)."""
        routes = self.routes()
        key = (scope["method"], scope["path"])
        if self._matched_in is not routes:
            self._matched, self._matched_in = {}, routes
        found = self._matched.get(key)
        if found is None:
            found = self._match(scope, routes)
            if len(self._matched) >= ROUTE_MEMORY:
                self._matched.clear()
            self._matched[key] = found
        return found[0], dict(found[1])

    @staticmethod
    def _match(scope: Scope, routes: Sequence[BaseRoute | RouteContext]
               ) -> tuple[Any, dict[str, Any]]:
        from starlette.routing import Match

        for route in routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                return route, dict(child.get("path_params") or {})
        for route in routes:  # a path that exists with another method: 405 later
            match, child = route.matches(scope)
            if match is Match.PARTIAL:
                return route, dict(child.get("path_params") or {})
        return None, {}

    def _refusal(self, principal: Principal, scope: Scope, route: Any,
                 params: dict[str, Any], body: _Body, *, offline: bool = False
                 ) -> tuple[int, str] | None:
        """Why the request is refused (None: it is not); ``offline``: raise
        :class:`_NeedsStore` instead of querying the store (the event loop's attempt)."""
        from starlette.routing import Mount

        method, path = scope["method"], scope["path"]
        original = getattr(route, "original_route", route)  # an included router's route
        if isinstance(original, Mount) and original.path == "":  # the dashboard
            if _dashboard_allows(principal, scope, original):
                return None
            scoped = "" if principal.can("reader") or method not in ("GET", "HEAD") else (
                " (this page is not filtered per experiment, so it needs a global reader; "
                "the runs, models and monitoring pages show what your grants name)")
            return 403, (f"User `{principal.user}` ({principal.role}) may not {method} "
                         f"{path}{scoped}.")
        rule = rule_of(route)
        if rule is None or rule.role not in ("reader", "writer", "admin"):
            return 403, (f"{method} {path} has no access rule; it is refused for everyone "
                         "(deny by default).")
        try:
            kind, name = self._resource(rule, params, body, offline)
        except LookupError as exc:
            return 404, str(exc)
        except ValueError as exc:
            return 400, str(exc)
        held = _holds_anywhere(principal, rule.role) if rule.scope == "any" else \
            principal.can(rule.role, kind, name)
        if not held and _hidden(principal, rule, kind, name):
            return 404, _not_found(rule, kind, name, params, body)
        if not held:
            where = f" on {kind} `{name}`" if kind else ""
            return 403, (f"User `{principal.user}` ({principal.role_on(kind, name)}{where}) may "
                         f"not {method} {path}: it needs {rule.role}{where}.")
        if rule.promote and name is not None and not principal.can_promote(name) \
                and _moves_production(rule, body):
            return 403, (f"User `{principal.user}` may not move `{name}` to production: that "
                         "needs the promote right (an admin grants it with `lockgate server "
                         f"grant {principal.user} model {name} writer --promote`).")
        return None

    def _resource(self, rule: Access, params: dict[str, Any], body: _Body, offline: bool
                  ) -> tuple[str | None, str | None]:
        if rule.scope not in ("experiment", "model") or not rule.source:
            return None, None
        where, _, field = rule.source.partition(":")
        if where == "path":
            return rule.scope, str(params[field])
        if where == "body":
            return rule.scope, str(body.json().get(field) or "default")
        run_id = params.get("run_id") if field == "path" else body.json().get("run_id")
        if run_id is None:  # an artifact of no run: a writer anywhere may register it
            return rule.scope, "*"
        known = self.experiments.known(str(run_id))
        if known is not None:
            return rule.scope, known
        if offline:
            raise _NeedsStore
        return rule.scope, self.experiments.of(str(run_id))


class RunExperiments:
    """The experiment of a run, for authorization, remembered per full run id.

    A run never changes experiment, so a remembered answer cannot go stale (a deleted
    run's requests still fail in the handler); this saves a query on every request
    about a run. Bounded: the oldest half is forgotten past ``limit`` entries.
    """

    def __init__(self, store: Store, limit: int = 100_000) -> None:
        self.store = store
        self.limit = limit
        self._known: dict[str, str] = {}
        self._lock = threading.Lock()

    def of(self, run_id: str) -> str:
        """The experiment of ``run_id`` (a full id or a unique prefix).

        Raises:
            LookupError: no such run, or an ambiguous prefix.
        """
        found = self.known(run_id)
        if found is not None:
            return found
        full, experiment = self._look_up(run_id)
        with self._lock:
            if len(self._known) >= self.limit:
                for key in list(self._known)[: self.limit // 2]:
                    del self._known[key]
            self._known[full] = experiment
        return experiment

    def known(self, run_id: str) -> str | None:
        """The remembered experiment of the full id ``run_id`` (None: not remembered)."""
        return self._known.get(run_id)

    def _look_up(self, run_id: str) -> tuple[str, str]:
        import sqlalchemy as sa

        from lockgate.store import schema as t

        query = (sa.select(t.runs.c.id, t.experiments.c.name)
                 .join(t.experiments, t.experiments.c.id == t.runs.c.experiment_id)
                 .where(t.runs.c.id.startswith(run_id, autoescape=True)).limit(2))
        with self.store.read() as conn:
            rows = conn.execute(query).all()
        if len(rows) != 1:
            raise LookupError(f"No run with id `{run_id}`." if not rows else
                              f"Run id prefix `{run_id}` is ambiguous; give more characters.")
        return str(rows[0].id), str(rows[0].name)


def rule_of(route: Any) -> Access | None:
    """The access rule a route declares (``openapi_extra['x-lockgate-access']``)."""
    found = (getattr(route, "openapi_extra", None) or {}).get(ACCESS_KEY)
    if not isinstance(found, dict) or found.get("role") == "open":
        return None
    return Access(str(found["role"]), str(found.get("scope") or "global"),
                  found.get("source"), found.get("promote"))


def _hidden(principal: Principal, rule: Access, kind: str | None, name: str | None) -> bool:
    """Whether the request is about something this user may not even see: answered 404,
    as if it did not exist, so ids and names of other teams' work are not confirmed. A
    name the caller chose itself (``body:<field>``, e.g. a new run's experiment) is
    answered 403 instead: it reveals nothing."""
    return (kind is not None and name not in (None, "*") and not (rule.source or "")
            .startswith("body:") and not principal.sees(kind, str(name)))


def _not_found(rule: Access, kind: str | None, name: str | None, params: dict[str, Any],
               body: _Body) -> str:
    if (rule.source or "").startswith("run:"):
        run_id = params.get("run_id") if rule.source == "run:path" else \
            body.json().get("run_id")
        return f"No run with id `{run_id}`."
    return f"No {kind} `{name}`."


def _holds_anywhere(principal: Principal, role: str) -> bool:
    return principal.can(role) or any(principal.can(role, g.kind, g.name)
                                      for g in principal.grants)


def _moves_production(rule: Access, body: _Body) -> bool:
    if rule.promote == "always":
        return True
    data = body.json()
    return str(data.get(rule.promote or "") or "production") == "production" \
        and not data.get("dry_run")


class _NeedsStore(Exception):
    """The rule needs a store lookup: decide it in the thread pool, not on the loop."""


class _Body:
    """A request's body, parsed as a JSON object once and only if a rule reads it."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self._data: dict[str, Any] | None = None

    def json(self) -> dict[str, Any]:
        """The body as a JSON object.

        Raises:
            ValueError: not JSON, or not an object.
        """
        if self._data is None:
            self._data = _json_object(self.raw)
        return self._data


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}")
    except ValueError as exc:
        raise ValueError(f"The body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("The body must be a JSON object.")
    return data


async def _read(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes, original: Receive) -> Receive:
    sent = [False]

    async def receive() -> Message:
        if sent[0]:
            return await original()
        sent[0] = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


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


def principal_of(scope: Mapping[str, Any]) -> Principal | None:
    """The principal the middleware authenticated for this request."""
    state = scope.get("state") or {}
    found = state.get(PRINCIPAL_KEY)
    return found if isinstance(found, Principal) else None


def _dashboard_allows(principal: Principal, scope: Scope, mount: Any) -> bool:
    """Dashboard pages: a global reader reads every page; a user limited to its grants
    reads only the pages marked filtered (``lockgate.ui.viewer.FILTERED``: their handlers
    show it only what its grants name; deny by default for the rest); changes need a
    global writer; the audit page is admin's."""
    if scope["path"].startswith("/audit"):
        return principal.role == "admin"
    if scope["method"] not in ("GET", "HEAD"):
        return principal.can("writer")
    return principal.can("reader") or _filtered(mount, scope)


def _filtered(mount: Any, scope: Scope) -> bool:
    """Whether the dashboard route ``scope`` reaches filters what it shows per viewer."""
    from starlette.routing import Match

    from lockgate.ui.viewer import FILTERED_KEY

    _match, child = mount.matches(scope)
    inner = {**scope, **child}
    for route in iter_route_contexts(mount.routes):  # included routers expanded
        match, _child = route.matches(inner)
        if match is Match.FULL:
            return bool((getattr(route, "openapi_extra", None) or {}).get(FILTERED_KEY))
    return False


async def _reply(send: Send, status: int, message: str,
                 extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"detail": message}).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode()),
               (b"cache-control", b"no-store"), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
