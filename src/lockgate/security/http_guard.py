"""The one guard in front of every lockgate server (serve, ui, ingest serve, and any later).

:class:`GuardPolicy` says who may reach a server and how much it may be sent;
:class:`HttpGuard` enforces it as plain ASGI middleware (not Starlette's
``BaseHTTPMiddleware``: it sits on every request and must not add a task per call),
applied to the whole app so a route added later is guarded without anyone remembering.

In order, every request is checked for:

1. ``Host``: the bound address, ``localhost``, ``127.0.0.1``, ``[::1]`` and the configured
   ``allowed_hosts`` (DNS rebinding); 403 otherwise.
2. ``Origin`` (or ``Referer``) on state-changing methods: the server itself (CSRF); 403.
3. The token (``Authorization: Bearer``, or the login cookie of the dashboard); 401.
4. The body: JSON only where the server speaks JSON (415), at most ``max_body_bytes``
   (413), received within ``body_timeout_s`` (408), nested at most ``max_json_depth``
   deep (400).

Refusals are a 4xx with a one-line reason, never a 500 or a traceback.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import ipaddress
import json
import re
import socket
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lockgate.errors import ConfigError

Observe = Callable[[str, str, int, float], None]

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
WILDCARD_BINDS = frozenset({"0.0.0.0", "::", "[::]", ""})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MIN_TOKEN_LENGTH = 16


class GuardError(ConfigError):
    """A server was asked to start in a way its guard refuses (exposed without a token,
    a short token)."""


@dataclass(frozen=True, slots=True)
class GuardPolicy:
    """Who may reach one server, and how much it may be sent.

    Attributes:
        server: the server's name in messages (``lockgate serve``).
        host: the bind address; anything but loopback needs a token or ``insecure``.
        token: the bearer token; ``None`` for none.
        token_env: the environment variable the token comes from (named in messages).
        insecure: serve beyond loopback without a token (warned at every start).
        allowed_hosts: extra ``Host`` names answered; ``"*"`` answers any (behind a proxy
            that checks it).
        open_paths: paths that need no token (``/health``); an entry ending in ``/`` is a
            prefix.
        token_on_loopback: the token is required on loopback too (APIs); the dashboard
            reads without it on loopback.
        login_path: where a browser without the token is sent (dashboard), else 401.
        token_cookie: a cookie that may carry the token (set by the login form).
        json_only: request bodies must be JSON (``Content-Type: application/json``).
        max_body_bytes / max_json_depth / body_timeout_s: body limits.
        header_timeout_s / idle_timeout_s / max_connections: connection limits, applied
            by :func:`lockgate.security.server_config` (beyond ``max_connections`` open
            connections or requests in flight, uvicorn answers 503).
    """

    server: str
    host: str = "127.0.0.1"
    token: str | None = None
    token_env: str = "LOCKGATE_SERVE_TOKEN"
    insecure: bool = False
    allowed_hosts: tuple[str, ...] = ()
    open_paths: tuple[str, ...] = ("/health",)
    token_on_loopback: bool = True
    login_path: str | None = None
    token_cookie: str | None = None
    json_only: bool = True
    max_body_bytes: int = 1 << 20
    max_json_depth: int = 32
    body_timeout_s: float = 30.0
    header_timeout_s: float = 10.0
    idle_timeout_s: int = 5
    max_connections: int = 1000
    _hosts: frozenset[str] = field(default=frozenset(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hosts", _allowed_hosts(self.host, self.allowed_hosts))

    @property
    def loopback(self) -> bool:
        """Whether the server listens on a loopback address only."""
        return is_loopback(self.host)

    @property
    def token_required(self) -> bool:
        """Whether requests to guarded paths must carry the token."""
        return self.token is not None and (self.token_on_loopback or not self.loopback)

    def check_start(self) -> str | None:
        """Refuse an unsafe start; returns the warning to print at every start, if any.

        Raises:
            GuardError: a token shorter than 16 characters; a non-loopback bind without a
                token and without ``insecure``.
        """
        if self.token is not None and len(self.token) < MIN_TOKEN_LENGTH:
            raise GuardError(
                f"{self.token_env} is {len(self.token)} characters long; use at least "
                f"{MIN_TOKEN_LENGTH} random characters, e.g. `export {self.token_env}=$(python "
                "-c 'import secrets; print(secrets.token_urlsafe(24))')`.")
        if self.loopback or self.token is not None:
            return None
        if self.insecure:
            return (f"WARNING: {self.server} on {self.host} WITHOUT authentication "
                    "(--insecure): anyone who can reach this address can use it. Set "
                    f"{self.token_env} instead.")
        raise GuardError(
            f"Refusing to start {self.server} on {self.host}: it is reachable from other "
            f"machines. Set {self.token_env} (at least {MIN_TOKEN_LENGTH} random characters; "
            "clients send `Authorization: Bearer <token>`), bind 127.0.0.1, or pass "
            "--insecure to accept the risk.")

    def token_matches(self, given: str | bytes | None) -> bool:
        """Constant-time comparison of a presented token with the configured one."""
        if self.token is None or not given:
            return False
        supplied = given if isinstance(given, bytes) else given.encode()
        return hmac.compare_digest(supplied, self.token.encode())

    def host_refusal(self, host_header: str | None) -> str | None:
        """Why a ``Host`` header is refused (DNS rebinding), or None."""
        host = (host_header or "").strip().lower()
        if not host:
            return "Request refused: it has no Host header."
        if "*" in self.allowed_hosts or hostname(host) in self._hosts:
            return None
        return (f"Request refused: Host `{host[:100]}` is not an address of this server "
                f"({self.server}; a DNS-rebinding attempt?). Use the address it is bound to, "
                "or add the name to the `allowed_hosts` setting (LOCKGATE_ALLOWED_HOSTS).")

    def origin_refusal(self, method: str, host_header: str | None, origin: str | None,
                       referer: str | None) -> str | None:
        """Why a state-changing request from another site is refused (CSRF), or None."""
        if method.upper() in SAFE_METHODS:
            return None
        if origin == "null":
            return "Request refused: a state change from an opaque (null) Origin."
        source = origin or referer
        if not source:
            return None  # not a browser: nothing to forge
        parsed = urllib.parse.urlsplit(source)
        if parsed.netloc.lower() != (host_header or "").strip().lower():
            return (f"Request refused: Origin `{parsed.scheme}://{parsed.netloc[:100]}` is not "
                    f"this server ({self.server}); cross-site requests cannot change anything.")
        return None

    def is_open(self, path: str) -> bool:
        """Whether ``path`` needs no token."""
        return any(path == p or (p.endswith("/") and path.startswith(p))
                   for p in self.open_paths)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names a loopback interface (127.0.0.0/8, ::1, localhost)."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def hostname(host_header: str) -> str:
    """The host part of a ``Host`` header, lower-cased (port removed, IPv6 bracketed)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end > 0 else host
    if host.count(":") > 1:  # a bare IPv6 literal
        return f"[{host}]"
    name = host.rsplit(":", 1)[0] if ":" in host else host
    return name.rstrip(".")


def _allowed_hosts(bind: str, extra: tuple[str, ...]) -> frozenset[str]:
    names = set(LOOPBACK_NAMES) | {hostname(h) for h in extra if h != "*"}
    bound = bind.strip().lower()
    if bound in WILDCARD_BINDS:
        names |= _machine_names()
    elif bound:
        names.add(hostname(f"[{bound.strip('[]')}]" if ":" in bound else bound))
    return frozenset(names)


def _machine_names() -> set[str]:
    """This machine's names and addresses: what a client uses to reach a wildcard bind."""
    names: set[str] = set()
    for name in {socket.gethostname(), socket.getfqdn()}:
        names.add(name.lower())
        try:
            names.update(a.lower() for a in socket.gethostbyname_ex(name)[2])
        except OSError:
            continue
    return names


class HttpGuard:
    """ASGI middleware enforcing a :class:`GuardPolicy` on every request of an app.

    Args:
        app: the ASGI app it wraps (FastAPI's ``add_middleware`` passes it).
        policy: the server's policy.
        observe: called with ``(path, method, status, seconds)`` for every request,
            refusals included (serving's metrics).
    """

    def __init__(self, app: ASGIApp, *, policy: GuardPolicy,
                 observe: Observe | None = None) -> None:
        self.app = app
        self.policy = policy
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # websockets: no lockgate server speaks them
            await send({"type": "websocket.close", "code": 1008})
            return
        started, status = time.perf_counter(), [500]

        async def tracked(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self._guarded(scope, receive, tracked)
        finally:
            if self.observe is not None:
                self.observe(scope["path"], scope["method"], status[0],
                             time.perf_counter() - started)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope)
        refusal = self._refuse(scope, headers)
        if refusal is not None:
            await self._reply(send, *refusal)
            return
        if scope["method"] in BODY_METHODS:
            body = await self._body(scope, headers, receive)
            if isinstance(body, tuple):
                await self._reply(send, *body)
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    def _refuse(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str] | None:
        policy, method, path = self.policy, scope["method"], scope["path"]
        reason = policy.host_refusal(headers.get("host"))
        if reason is not None:
            return (400 if not headers.get("host") else 403), reason
        reason = policy.origin_refusal(method, headers.get("host"), headers.get("origin"),
                                       headers.get("referer"))
        if reason is not None:
            return 403, reason
        if policy.token_required and not policy.is_open(path) \
                and not policy.token_matches(_presented_token(policy, headers)):
            if policy.login_path and method in SAFE_METHODS:
                return 303, f"{policy.login_path}?next={urllib.parse.quote(path)}"
            return 401, ("Missing or wrong token: send `Authorization: Bearer <token>` (the "
                         f"value of {policy.token_env} where the server runs).")
        return None

    async def _body(self, scope: Scope, headers: dict[str, str], receive: Receive
                    ) -> bytes | tuple[int, str]:
        policy = self.policy
        kind = headers.get("content-type", "").split(";")[0].strip().lower()
        is_json = kind == "application/json" or kind.endswith("+json")
        length = headers.get("content-length", "")
        has_body = length not in ("", "0") or "transfer-encoding" in headers
        if policy.json_only and has_body and not is_json:
            return 415, (f"Content-Type `{kind or 'missing'}` is not supported; send JSON "
                         "with `Content-Type: application/json`.")
        too_large = (413, f"Request body is larger than {policy.max_body_bytes} bytes; send "
                     "smaller batches.")
        if length.isdigit() and int(length) > policy.max_body_bytes:
            return too_large
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for wraps the read in a
            # new task per request; the deadline is the same
            async with asyncio.timeout(policy.body_timeout_s):
                body = await _read_body(receive, policy.max_body_bytes)
        except TimeoutError:
            return 408, (f"The request body did not arrive within {policy.body_timeout_s:g} s; "
                         "send it in one go.")
        if body is None:
            return too_large
        if is_json and json_too_deep(body, policy.max_json_depth):
            return 400, (f"The JSON body is nested deeper than {policy.max_json_depth} levels; "
                         "send flat records.")
        return body

    async def _reply(self, send: Send, status: int, message: str) -> None:
        extra: list[tuple[bytes, bytes]] = []
        if status == 303:
            extra.append((b"location", message.encode("latin-1", "replace")))
            message = "Log in first."
        if status == 401:
            extra.append((b"www-authenticate", b"Bearer"))
        if self.policy.login_path is not None:  # a browser-facing server: a small page
            body = _page(status, message)
            kind = b"text/html; charset=utf-8"
        else:
            body = json.dumps({"detail": message}).encode()
            kind = b"application/json"
        headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode()),
                   (b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-store"),
                   *extra]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_STRING = re.compile(rb'"[^"]*"')
_NOT_BRACKET = bytes(c for c in range(256) if c not in b"[]{}")
_STEP = bytes.maketrans(b"[]{}", b"\x01\xff\x01\xff")


def json_too_deep(body: bytes, limit: int) -> bool:
    """Whether JSON text nests arrays/objects deeper than ``limit``, without parsing it.

    Why not parse: Python's JSON decoder recurses, so a body nested 10^5 deep raises
    RecursionError before any limit could be applied. Linear in the body's size and in
    C (regex, translate, numpy): escapes go, then strings, then brackets are summed.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    import numpy as np

    brackets = _STRING.sub(b"", _ESCAPE.sub(b"", body)).translate(None, _NOT_BRACKET)
    steps = np.frombuffer(brackets.translate(_STEP), dtype=np.int8)
    return bool(steps.size) and int(np.cumsum(steps, dtype=np.int64).max()) > limit


def _headers(scope: Scope) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        key = name.decode("latin-1").lower()
        if key not in found:  # the first of repeated headers, as Starlette reads them
            found[key] = value.decode("latin-1")
    return found


def _presented_token(policy: GuardPolicy, headers: dict[str, str]) -> str | None:
    given = headers.get("authorization", "")
    if given[:7].lower() == "bearer ":
        return given[7:].strip()
    if policy.token_cookie:
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == policy.token_cookie:
                return urllib.parse.unquote(value)
    return None


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes, original: Receive) -> Receive:
    sent = [False]

    async def receive() -> Message:
        if sent[0]:
            return await original()  # only a disconnect can come after the body
        sent[0] = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _page(status: int, message: str) -> bytes:
    text = html.escape(message)
    return (f"<!doctype html><meta charset='utf-8'><title>{status}</title>"
            f"<h1>Refused</h1><p>{text}</p><p><a href='/'>Back</a></p>").encode()
