"""Each router of ``lockgate server`` mounted alone on a bare FastAPI app, behind the
real guard and auth middleware, served by uvicorn on 127.0.0.1: a route needs only the
:class:`TeamServerState` record it is handed, and access rules hold router by router."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from lockgate.config import Settings
from lockgate.security import HttpGuard, ServerThread, accounts, server_config
from lockgate.server.access import AuthMiddleware, RateLimiter
from lockgate.server.app import add_error_answers, flat_routes, server_policy
from lockgate.server.routes import accounts as accounts_routes
from lockgate.server.routes import artifacts, runs
from lockgate.server.state import TeamServerState
from lockgate.serving import free_port
from lockgate.store import Store


def _alone(router: APIRouter, settings: Settings) -> ServerThread:
    """``router`` and nothing else, with the team server's guard and middleware."""
    store = Store.open(settings)
    app = FastAPI()
    limiter = RateLimiter()
    TeamServerState.open(settings, store, limiter).attach(app)
    app.add_middleware(AuthMiddleware, store=store, limiter=limiter,
                       routes=lambda: flat_routes(app))
    policy = server_policy(settings)
    app.add_middleware(HttpGuard, policy=policy)
    add_error_answers(app)
    app.include_router(router)
    return ServerThread(server_config(app, policy, port=free_port()))


@pytest.fixture
def tokens(settings: Settings) -> Iterator[dict[str, str]]:
    store = Store.open(settings)
    found = {"admin": accounts.init_admin(store)}
    for name, role in (("writer", "writer"), ("reader", "reader")):
        accounts.create_user(store, name, role)
        found[name] = accounts.issue_token(store, name)
    yield found


def _client(url: str, token: str | None) -> httpx.Client:
    headers = {} if token is None else {"authorization": f"Bearer {token}"}
    return httpx.Client(base_url=url, headers=headers, timeout=30)


def test_the_runs_router_alone_creates_and_reads_a_run(settings: Settings,
                                                       tokens: dict[str, str]) -> None:
    with _alone(runs.router, settings) as server:
        with _client(server.url, tokens["writer"]) as writer:
            created = writer.post("/api/v1/runs", json={"name": "alone", "experiment": "e"})
            assert created.status_code == 200, created.text
            run_id = created.json()["id"]
            assert writer.get(f"/api/v1/runs/{run_id}").json()["name"] == "alone"
        with _client(server.url, tokens["reader"]) as reader:
            refused = reader.post("/api/v1/runs", json={"name": "no", "experiment": "e"})
            assert refused.status_code == 403, refused.text
            assert reader.get("/api/v1/experiments").json() == ["e"]
        with _client(server.url, None) as nobody:
            assert nobody.get("/api/v1/runs").status_code == 401
        with _client(server.url, tokens["writer"]) as writer:  # not this router's route
            assert writer.get("/api/v1/whoami").status_code == 404


def test_the_accounts_router_alone_is_for_admins(settings: Settings,
                                                 tokens: dict[str, str]) -> None:
    with _alone(accounts_routes.router, settings) as server:
        with _client(server.url, tokens["reader"]) as reader:
            assert reader.get("/api/v1/whoami").json()["user"] == "reader"
            assert reader.get("/api/v1/users").status_code == 403
        with _client(server.url, tokens["admin"]) as admin:
            names = {u["name"] for u in admin.get("/api/v1/users").json()}
            assert {"admin", "writer", "reader"} <= names


def test_the_artifacts_router_alone_stores_a_blob_by_its_hash(
        settings: Settings, tokens: dict[str, str]) -> None:
    data = b"blob bytes"
    sha = hashlib.sha256(data).hexdigest()
    with _alone(artifacts.router, settings) as server:
        with _client(server.url, tokens["writer"]) as writer:
            wrong = writer.put(f"/api/v1/blobs/{'0' * 64}", content=data)
            assert wrong.status_code == 400 and "does not hash" in wrong.text
            assert writer.put(f"/api/v1/blobs/{sha}", content=data).status_code == 200
            assert writer.get(f"/api/v1/blobs/{sha}").content == data
        with _client(server.url, tokens["reader"]) as reader:
            assert reader.put(f"/api/v1/blobs/{sha}", content=data).status_code == 403
