"""Each dashboard router mounted alone on a bare FastAPI app, behind the real guard,
served by uvicorn on 127.0.0.1: a route needs only the :class:`Dashboard` record it is
handed, and the edit check and the guard hold router by router."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from lockgate.config import Settings
from lockgate.security import HttpGuard, ServerThread, server_config
from lockgate.serving import free_port
from lockgate.store import Store
from lockgate.tracking import start_run
from lockgate.ui import AccessPolicy
from lockgate.ui.app import add_error_pages
from lockgate.ui.dashboard import Dashboard
from lockgate.ui.routes import data, files, login, runs

TOKEN = "router-token-0123456789abcdef"


@dataclass
class World:
    settings: Settings
    run_id: str
    artifact_id: int
    payload: bytes


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """One recorded run with one artifact, in a store of its own."""
    home = tmp_path_factory.mktemp("ui-routes")
    settings = Settings(home=home / ".lockgate", heartbeat_seconds=0.5, hardware_seconds=0.5,
                        metric_flush_seconds=0.2)
    payload = b"alpha,beta\n1,2\n"
    source = home / "table.csv"
    source.write_bytes(payload)
    with start_run("router-run", settings=settings) as run:
        run.log_metric("loss", 0.25)
        record = run.log_artifact(source)
        run_id = run.id
    return World(settings, run_id, record.id, payload)


def _alone(router: APIRouter, world: World, policy: AccessPolicy) -> ServerThread:
    """``router`` and nothing else, on a bare app with the dashboard's guard."""
    app = FastAPI()
    Dashboard.open(world.settings, policy).attach(app)
    app.add_middleware(HttpGuard, policy=policy.guard())
    add_error_pages(app)
    app.include_router(router)
    return ServerThread(server_config(app, policy.guard(), port=free_port()))


@pytest.fixture(scope="module")
def runs_alone(world: World) -> Iterator[ServerThread]:
    with _alone(runs.router, world, AccessPolicy(token=TOKEN)) as server:
        yield server


def test_the_runs_router_alone_lists_and_opens_runs(runs_alone: ServerThread,
                                                     world: World) -> None:
    table = httpx.get(runs_alone.url + "/")
    assert table.status_code == 200 and "router-run" in table.text
    one = httpx.get(f"{runs_alone.url}/runs/{world.run_id[:8]}")
    assert one.status_code == 200 and "loss" in one.text
    assert httpx.get(f"{runs_alone.url}/runs/nope").status_code == 404
    assert httpx.get(runs_alone.url + "/data").status_code == 404  # another router's page


def test_the_runs_router_alone_checks_the_edit_token(runs_alone: ServerThread,
                                                     world: World) -> None:
    notes = f"{runs_alone.url}/runs/{world.run_id}/notes"
    refused = httpx.post(notes, data={"text": "no token"})
    assert refused.status_code == 403 and "Wrong or missing token" in refused.text
    added = httpx.post(notes, data={"text": "seen by the router test", "token": TOKEN})
    assert added.status_code == 303
    assert added.headers["location"] == f"/runs/{world.run_id}?message=note-added#notes"
    assert [n.text for n in Store.open(world.settings).notes(world.run_id)] == [
        "seen by the router test"]
    bearer = httpx.post(runs_alone.url + "/views", data={"name": "mine", "columns": "name"},
                        headers={"authorization": f"Bearer {TOKEN}"})
    assert bearer.status_code == 303 and "view=mine" in bearer.headers["location"]


def test_the_guard_holds_on_a_router_alone(runs_alone: ServerThread, world: World) -> None:
    foreign = httpx.get(runs_alone.url + "/", headers={"host": "evil.example"})
    assert foreign.status_code == 403
    cross_site = httpx.post(f"{runs_alone.url}/runs/{world.run_id}/notes",
                            data={"text": "csrf", "token": TOKEN},
                            headers={"origin": "http://evil.example"})
    assert cross_site.status_code == 403
    assert "csrf" not in [n.text for n in Store.open(world.settings).notes(world.run_id)]


def test_a_read_only_dashboard_refuses_edits_router_by_router(world: World) -> None:
    with _alone(runs.router, world, AccessPolicy()) as server:
        answer = httpx.post(server.url + "/views", data={"name": "x"})
        assert answer.status_code == 403 and "read-only" in answer.text
        assert httpx.get(server.url + "/").status_code == 200


def test_the_files_router_alone_serves_verified_bytes_only(world: World) -> None:
    with _alone(files.router, world, AccessPolicy()) as server:
        download = httpx.get(f"{server.url}/artifacts/{world.artifact_id}/download")
        assert download.status_code == 200 and download.content == world.payload
        sha = hashlib.sha256(world.payload).hexdigest()
        assert httpx.get(f"{server.url}/blobs/{sha}").content == world.payload
        assert httpx.get(f"{server.url}/blobs/..%2F..%2Fetc%2Fpasswd").status_code == 404
        assert httpx.get(server.url + "/static/app.js").status_code == 200
        assert httpx.get(server.url + "/static/secret.py").status_code == 404


def test_the_login_router_alone_sets_the_cookie_for_the_right_token(world: World) -> None:
    with _alone(login.router, world, AccessPolicy(token=TOKEN)) as server:
        wrong = httpx.post(server.url + "/login", data={"token": "x" * 20, "next": "/"})
        assert wrong.status_code == 403 and "lockgate_ui_token" not in wrong.headers.get(
            "set-cookie", "")
        right = httpx.post(server.url + "/login",
                           data={"token": TOKEN, "next": "//evil.example/"})
        assert right.status_code == 303 and right.headers["location"] == "/"
        assert "lockgate_ui_token" in right.headers["set-cookie"]
        assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}


def test_the_data_router_alone_explains_a_missing_table(world: World) -> None:
    with _alone(data.router, world, AccessPolicy()) as server:
        assert httpx.get(server.url + "/data").status_code == 200
        missing = httpx.get(server.url + "/data/orders")
        assert missing.status_code == 404 and "orders" in missing.text
