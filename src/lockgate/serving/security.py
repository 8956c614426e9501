"""Secure defaults of the server: where it may bind, the token, body type and size.

Implemented as a plain ASGI middleware (not Starlette's BaseHTTPMiddleware) because it
sits on every request and must not add a task per call. It also times every request
for the metrics, since it sees the final status of every response, refusals included.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from lockgate.errors import ConfigError

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
TOKEN_ENV = "LOCKGATE_SERVE_TOKEN"
OPEN_PATHS = {"/health"}
BODY_METHODS = {"POST", "PUT", "PATCH"}

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class ServeSecurityError(ConfigError):
    """The server was asked to listen beyond this machine without a token."""


def check_bind(host: str, token: str | None, insecure: bool) -> str | None:
    """Decide whether ``host`` may be bound; returns a warning to print, if any.

    Raises:
        ServeSecurityError: a non-local address without a token or ``--insecure``.
    """
    if host in LOCAL_HOSTS:
        return None
    if token:
        return None
    if insecure:
        return (f"WARNING: serving on {host} WITHOUT authentication (--insecure). Anyone who "
                f"can reach this address can call the model. Set {TOKEN_ENV} instead.")
    raise ServeSecurityError(
        f"Refusing to bind {host}: it is reachable from other machines. Set {TOKEN_ENV} "
        "(clients send `Authorization: Bearer <token>`) or pass --insecure to accept the "
        "risk; or bind 127.0.0.1."
    )


class GuardMiddleware:
    """Token check, JSON-only bodies (415), body size limit (413), request timing."""

    def __init__(self, app: Any, *, token: str | None, max_body_bytes: int,
                 observe: Callable[[str, str, int, float], None],
                 routes: set[str], body_routes: set[str]) -> None:
        self.app = app
        self.token = token.encode() if token else None
        self.max_body_bytes = max_body_bytes
        self.observe = observe
        self.routes = routes
        self.body_routes = body_routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path, method = scope["path"], scope["method"]
        status = [500]

        async def timed_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            refusal = self._refuse(scope)
            if refusal is not None:
                await _reply(timed_send, *refusal)
                return
            if method in BODY_METHODS and path in self.body_routes:
                body = await _read_body(receive, self.max_body_bytes)
                if body is None:
                    await _reply(timed_send, 413, f"Request body is larger than "
                                 f"{self.max_body_bytes} bytes; send smaller batches.")
                    return
                receive = _replay(body, receive)
            await self.app(scope, receive, timed_send)
        finally:
            route = path if path in self.routes else "other"
            self.observe(route, method, status[0], time.perf_counter() - started)

    def _refuse(self, scope: Scope) -> tuple[int, str] | None:
        headers = dict(scope["headers"])
        if self.token is not None and scope["path"] not in OPEN_PATHS:
            given = headers.get(b"authorization", b"")
            supplied = given[7:] if given[:7].lower() == b"bearer " else b""
            if not hmac.compare_digest(supplied, self.token):
                return 401, "Missing or wrong token: send `Authorization: Bearer <token>`."
        if scope["method"] in BODY_METHODS and scope["path"] in self.body_routes:
            kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if kind != b"application/json" and not kind.endswith(b"+json"):
                return 415, (f"Content-Type `{kind.decode('latin-1') or 'missing'}` is not "
                             "supported; send JSON with `Content-Type: application/json`.")
            length = headers.get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
                return 413, (f"Request body is larger than {self.max_body_bytes} bytes; send "
                             "smaller batches.")
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

    async def receive() -> dict[str, Any]:
        if sent[0]:
            return await original()  # only a disconnect can come after the body
        sent[0] = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _reply(send: Send, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
