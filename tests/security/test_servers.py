"""Every server, attacked over real sockets on 127.0.0.1: serve, ingest serve, ui.

What is tried on each: every route with a foreign Host (DNS rebinding), state changes
from a foreign Origin (CSRF), oversized, deep and slow bodies, a slowloris head, an
idle connection, binding beyond loopback without a token, short tokens. A refusal is a
4xx with a one-line reason; never a 500, a traceback, or a row landed.
"""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastapi.routing
import httpx
import pytest
from lockgate_model_cases import registered
from starlette.routing import Mount, Route

from lockgate.config import Settings
from lockgate.data import Contract
from lockgate.data.endpoint import IngestServer, ingest_policy
from lockgate.errors import ConfigError
from lockgate.security import HttpGuard, ServerThread, server_config
from lockgate.server import TeamServer
from lockgate.serving import BackgroundServer, ServeConfig
from lockgate.ui import AccessPolicy, create_dashboard_app

TOKEN = "correct-horse-battery-staple-42"
EVENTS = Contract.from_dict({"table": "events", "version": "1", "columns": [
    {"name": "event_id", "type": "int", "nullable": False},
    {"name": "value", "type": "float"}], "primary_key": ["event_id"]})
# short deadlines, yet longer than a loaded machine takes to read a whole head or body
FAST = {"header_timeout_s": 3.0, "body_timeout_s": 3.0}
RECORD = {"age": 40, "income": 50_000.0, "tenure": 3.0}


@dataclasses.dataclass
class Servers:
    settings: Settings
    urls: dict[str, str]
    apps: dict[str, Any]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """The three servers on loopback with their defaults (short timeouts for speed)."""
    home = tmp_path_factory.mktemp("security") / ".lockgate"
    settings = Settings(home=home, heartbeat_seconds=0.5, hardware_seconds=0.5,
                        metric_flush_seconds=0.2)
    registered(settings, versions=1)
    serve = BackgroundServer(ServeConfig("churn@production", port=0, **FAST), settings)
    ingest = IngestServer(settings, {"events": EVENTS}, policy=dataclasses.replace(
        ingest_policy(settings), **FAST))
    ui_policy = AccessPolicy()
    ui_app = create_dashboard_app(settings, ui_policy)
    ui = ServerThread(server_config(ui_app, dataclasses.replace(ui_policy.guard(), **FAST),
                                    port=_free_port()))
    team = TeamServer(settings, **FAST)
    with serve, ingest, ui, team:
        yield Servers(settings, {"serve": serve.url, "ingest": ingest.url, "ui": ui.url,
                                 "server": team.url},
                      {"serve": serve.app, "ingest": ingest.app, "ui": ui_app,
                       "server": team.app})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _routes(app: Any) -> list[tuple[str, str]]:
    """(method, concrete path) for every route of an app, path parameters filled in;
    routes of included routers too (FastAPI >= 0.137 keeps an included router as one node
    of ``app.routes``; ``iter_route_contexts`` expands it, with the include's prefix)."""
    found = []
    expand = getattr(fastapi.routing, "iter_route_contexts", None)
    for route in expand(app.routes) if expand else app.routes:
        original = getattr(route, "original_route", route)
        assert isinstance(original, Route | Mount), f"unexpected route type {route!r}"
        path = route.path or "/"  # the team server mounts the dashboard at the root
        for name in route.param_convertors:
            path = path.replace(f"{{{name}:path}}", "x").replace(f"{{{name}}}", "1")
        for method in sorted(getattr(route, "methods", None) or {"GET"}):
            found.append((method, path))
    return found


SERVERS = ["serve", "ingest", "ui", "server"]


@pytest.mark.parametrize("name", SERVERS)
def test_every_route_of_every_app_refuses_a_foreign_host(servers: Servers, name: str) -> None:
    """Route enumeration: a route added without the guard fails here."""
    app = servers.apps[name]
    assert any(m.cls is HttpGuard for m in app.user_middleware), f"{name} has no HttpGuard"
    routes = _routes(app)
    assert len(routes) >= 3
    with httpx.Client(base_url=servers.urls[name], timeout=10) as client:
        for method, path in routes:
            response = client.request(method, path, headers={"host": "evil.example"},
                                      json={} if method in ("POST", "PUT", "PATCH") else None)
            assert response.status_code == 403, (name, method, path, response.text[:200])
            if method != "HEAD":
                assert "evil.example" in response.text and "Traceback" not in response.text


@pytest.mark.parametrize("name", SERVERS)
def test_loopback_names_are_answered(servers: Servers, name: str) -> None:
    health = {"serve": "/health", "ingest": "/health", "ui": "/healthz",
              "server": "/health"}[name]
    port = servers.urls[name].rsplit(":", 1)[1]
    for host in ("127.0.0.1", "localhost", f"localhost:{port}", "[::1]"):
        response = httpx.get(servers.urls[name] + health, headers={"host": host})
        assert response.status_code == 200, (host, response.text)


STATE_CHANGES = {
    "serve": [("/predict", RECORD), ("/feedback", {"request_id": "x", "label": "1"})],
    "ingest": [("/tables/events/rows", [{"event_id": 1, "value": 1.0}])],
    "ui": [("/runs/x/notes", None), ("/views", None)],
    "server": [("/api/v1/runs", {"name": "x"}), ("/login", None)],
}


@pytest.mark.parametrize("name", SERVERS)
def test_a_cross_site_page_cannot_change_state(servers: Servers, name: str) -> None:
    for path, body in STATE_CHANGES[name]:
        for origin in ("http://evil.example", "null", "http://127.0.0.1.evil.example"):
            response = httpx.post(servers.urls[name] + path, json=body,
                                  headers={"origin": origin})
            assert response.status_code == 403, (name, path, origin, response.text)
    if name == "ingest":
        from lockgate.data import read

        with pytest.raises(Exception, match="events"):
            read("events", settings=servers.settings)  # nothing landed


def test_a_rebinding_page_reads_nothing_from_serve(servers: Servers) -> None:
    for path in ("/model", "/metrics", "/openapi.json", "/docs"):
        response = httpx.get(servers.urls["serve"] + path, headers={"host": "evil.example"})
        assert response.status_code == 403
        assert "lineage" not in response.text and "contract" not in response.text
    fed = httpx.post(servers.urls["serve"] + "/feedback", headers={"host": "evil.example"},
                     json={"request_id": "x", "label": "1"})
    assert fed.status_code == 403


@pytest.mark.parametrize(("name", "path"), [("serve", "/predict"), ("serve", "/feedback"),
                                            ("ingest", "/tables/events/rows"),
                                            ("server", "/api/v1/runs")])
@pytest.mark.parametrize("depth", [100, 100_000])
def test_deep_json_is_a_400_not_a_recursion_error(servers: Servers, name: str, path: str,
                                                  depth: int) -> None:
    body = "[" * depth + "]" * depth
    response = httpx.post(servers.urls[name] + path, content=body,
                          headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text[:300]
    assert "nested deeper than 32" in response.text
    assert "Recursion" not in response.text


@pytest.mark.parametrize(("name", "path", "size"), [
    ("serve", "/predict", 2 << 20), ("ingest", "/tables/events/rows", 20 << 20),
    ("ui", "/runs/x/notes", 1 << 20), ("server", "/api/v1/runs", 9 << 20)])
def test_oversized_bodies_are_refused_before_parsing(servers: Servers, name: str, path: str,
                                                     size: int) -> None:
    kind = "application/x-www-form-urlencoded" if name == "ui" else "application/json"
    body = b"[" + b"1," * (size // 2) + b"1]"
    response = httpx.post(servers.urls[name] + path, content=body,
                          headers={"content-type": kind}, timeout=30)
    assert response.status_code == 413, response.text[:200]


def test_chunked_bodies_are_capped_too(servers: Servers) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"["
        for _ in range(3000):
            yield b"1," * 2000
        yield b"1]"

    response = httpx.post(servers.urls["ingest"] + "/tables/events/rows", content=chunks(),
                          headers={"content-type": "application/json"}, timeout=30)
    assert response.status_code == 413


@pytest.mark.parametrize(("name", "path"), [("serve", "/predict"),
                                            ("ingest", "/tables/events/rows")])
def test_non_json_bodies_are_refused(servers: Servers, name: str, path: str) -> None:
    for kind in ("text/plain", "application/x-www-form-urlencoded", "application/python-pickle",
                 "application/octet-stream"):
        response = httpx.post(servers.urls[name] + path, content=b"\x80\x04K\x01.",
                              headers={"content-type": kind})
        assert response.status_code == 415, (kind, response.text)


def _raw(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def _closed_within(sock: socket.socket, seconds: float, trickle: bytes = b"") -> bool:
    """Whether the server closes the connection within ``seconds`` while the client keeps
    sending ``trickle`` one byte at a time (slowloris)."""
    deadline = time.monotonic() + seconds
    sock.settimeout(0.2)
    sent = 0
    while time.monotonic() < deadline:
        try:
            if trickle:
                sock.sendall(trickle[sent % len(trickle): sent % len(trickle) + 1])
                sent += 1
            data = sock.recv(4096)
            if data == b"" or b"HTTP/1.1 408" in data or b"HTTP/1.1 4" in data:
                return True
        except TimeoutError:
            continue
        except OSError:  # reset by the server
            return True
    return False


@pytest.mark.parametrize("name", SERVERS)
def test_slowloris_heads_are_cut_off(servers: Servers, name: str) -> None:
    with _raw(servers.urls[name]) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        assert _closed_within(sock, 60.0, trickle=b"X-a: b\r\n")  # a hang guard


@pytest.mark.parametrize("name", SERVERS)
def test_idle_connections_are_closed(servers: Servers, name: str) -> None:
    with _raw(servers.urls[name]) as sock:
        assert _closed_within(sock, 60.0)  # a hang guard: it closes after 3 s


@pytest.mark.parametrize(("name", "path"), [("serve", "/predict"),
                                            ("ingest", "/tables/events/rows"),
                                            ("server", "/api/v1/runs")])
def test_a_slow_body_gets_408(servers: Servers, name: str, path: str) -> None:
    with _raw(servers.urls[name]) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                     "application/json\r\nContent-Length: 1000\r\n\r\n[".encode())
        deadline, answer = time.monotonic() + 60, b""
        sock.settimeout(0.3)
        while time.monotonic() < deadline and b"\r\n\r\n" not in answer:
            try:
                sock.sendall(b" ")
                answer += sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]


def test_ingest_refuses_to_bind_beyond_loopback_without_a_token(settings: Settings) -> None:
    with pytest.raises(ConfigError, match=r"Refusing to start lockgate ingest serve on "
                                          r"0\.0\.0\.0.*LOCKGATE_INGEST_TOKEN.*--insecure"):
        IngestServer(settings, {"events": EVENTS}, host="0.0.0.0")


def test_ingest_cli_refuses_too(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    from lockgate.cli.main import main

    assert main(["ingest", "serve", "--host", "0.0.0.0", "--port", "0"]) == 1
    assert "LOCKGATE_INGEST_TOKEN" in capsys.readouterr().err


@pytest.mark.parametrize("token", ["x", "short-token", "a" * 15])
def test_short_tokens_are_refused_by_every_server(settings: Settings, token: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCKGATE_SERVE_TOKEN", token)
    with pytest.raises(ConfigError, match="at least 16 random characters"):
        BackgroundServer(ServeConfig("churn@production", port=0), settings)
    with pytest.raises(ConfigError, match="at least 16 random characters"):
        IngestServer(settings, policy=ingest_policy(settings, token=token))
    with pytest.raises(ConfigError, match="at least 16 random characters"):
        create_dashboard_app(settings, AccessPolicy(token=token))


def test_ingest_with_a_token_guards_every_route_but_health(settings: Settings,
                                                           tmp_path: Path) -> None:
    policy = ingest_policy(settings, token=TOKEN)
    with IngestServer(settings, {"events": EVENTS}, policy=policy) as server:
        assert httpx.get(server.url + "/health").status_code == 200
        rows = [{"event_id": 1, "value": 1.0}]
        for headers in ({}, {"authorization": "Bearer wrong-but-long-enough-token"},
                        {"authorization": TOKEN}):
            refused = httpx.post(server.url + "/tables/events/rows", json=rows, headers=headers)
            assert refused.status_code == 401
        accepted = httpx.post(server.url + "/tables/events/rows", json=rows,
                              headers={"authorization": f"Bearer {TOKEN}"})
        assert accepted.status_code == 200, accepted.text


def test_an_allowed_host_from_settings_is_answered(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / ".lockgate", allowed_hosts=("ingest.internal",))
    with IngestServer(settings, {"events": EVENTS}) as server:
        assert httpx.get(server.url + "/health",
                         headers={"host": "ingest.internal:80"}).status_code == 200
        assert httpx.get(server.url + "/health",
                         headers={"host": "other.internal"}).status_code == 403


def test_every_app_lockgate_builds_is_in_this_corpus() -> None:
    """A new server (a module building a FastAPI/Starlette app) must join the corpus
    above, so its routes are enumerated against the guard too."""
    import lockgate

    root = Path(lockgate.__file__).parent
    builders = {str(p.relative_to(root)) for p in root.rglob("*.py")
                if "FastAPI(" in p.read_text() or "Starlette(" in p.read_text()}
    assert builders == {"serving/app.py", "data/endpoint.py", "ui/app.py",
                        "server/app.py"}, (
        "a module builds an app this corpus does not attack: add it to `servers` and "
        "SERVERS in tests/security/test_servers.py")
