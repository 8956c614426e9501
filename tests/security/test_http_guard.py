"""The guard's parts on their own: JSON depth without parsing, Host names, start policy,
and keep-alive clients that are not attacks."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest
from fastapi import FastAPI

from lockgate.security import GuardError, GuardPolicy, HttpGuard, ServerThread, json_too_deep
from lockgate.security import server_config as make_config
from lockgate.security.http_guard import hostname


@pytest.mark.parametrize(("body", "deep"), [
    (b"[" * 33 + b"]" * 33, True), (b"[" * 32 + b"]" * 32, False),
    (json.dumps({"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}).encode(), False),
    (json.dumps({"a": "\\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}).encode(), False),
    (json.dumps([{"x": [1, 2, {"y": [3]}]}] * 1000).encode(), False),
    (b'["\\\\"' + b"[" * 40 + b"]" * 40 + b"]", True),  # an escaped backslash ends the string
])
def test_json_depth_is_measured_outside_strings(body: bytes, deep: bool) -> None:
    assert json_too_deep(body, 32) is deep


@pytest.mark.parametrize(("header", "name"), [
    ("127.0.0.1:8000", "127.0.0.1"), ("LOCALHOST", "localhost"), ("[::1]:80", "[::1]"),
    ("::1", "[::1]"), ("example.org.", "example.org"), ("evil.example:5000", "evil.example")])
def test_host_headers_are_normalised(header: str, name: str) -> None:
    assert hostname(header) == name


def test_a_wildcard_bind_answers_this_machine_and_refuses_others() -> None:
    policy = GuardPolicy(server="t", host="0.0.0.0", token="t" * 16)
    assert policy.host_refusal(socket.gethostname()) is None
    assert policy.host_refusal("127.0.0.1:1") is None
    assert policy.host_refusal("attacker.example") is not None
    assert GuardPolicy(server="t", allowed_hosts=("*",)).host_refusal("any.example") is None


def test_start_policy() -> None:
    assert GuardPolicy(server="t").check_start() is None
    with pytest.raises(GuardError, match=r"Refusing to start t on 10\.0\.0\.5"):
        GuardPolicy(server="t", host="10.0.0.5").check_start()
    warning = GuardPolicy(server="t", host="10.0.0.5", insecure=True).check_start()
    assert warning is not None and "WITHOUT authentication" in warning
    with pytest.raises(GuardError, match="at least 16"):
        GuardPolicy(server="t", token="a" * 15).check_start()


def test_keep_alive_clients_are_served_and_every_route_is_guarded() -> None:
    app = FastAPI()

    @app.post("/echo")
    async def echo(body: dict) -> dict:  # type: ignore[type-arg]
        return body

    @app.get("/added-later")
    async def later() -> str:
        return "ok"

    policy = GuardPolicy(server="t", header_timeout_s=1.0)
    app.add_middleware(HttpGuard, policy=policy)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with ServerThread(make_config(app, policy, port=port)) as server, \
            httpx.Client(base_url=server.url) as client:
        for i in range(3):
            assert client.post("/echo", json={"i": i}).json() == {"i": i}
        assert client.get("/added-later", headers={"host": "evil.example"}).status_code == 403
        assert client.post("/echo", content="{}", headers={
            "content-type": "text/plain"}).status_code == 415


def test_connections_beyond_the_limit_get_503() -> None:
    app = FastAPI()

    @app.get("/ok")
    async def ok() -> str:
        return "ok"

    policy = GuardPolicy(server="t", max_connections=2)
    app.add_middleware(HttpGuard, policy=policy)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with ServerThread(make_config(app, policy, port=port)) as server:
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
        try:
            assert httpx.get(server.url + "/ok").status_code == 503
        finally:
            for sock in held:
                sock.close()
        deadline = time.monotonic() + 60
        while httpx.get(server.url + "/ok").status_code != 200:
            assert time.monotonic() < deadline
