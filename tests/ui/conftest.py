"""Fixtures of the dashboard tests: one populated store per module, a TestClient, and a
real uvicorn server on 127.0.0.1 (a free port) for raw-path and browser tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from lockgate.ui import AccessPolicy, create_dashboard_app
from tests.ui.ui_populate import Populated, populate

TOKEN = "test-token-0123456789abcdef"


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Populated:
    """A store with runs, artifacts, data versions, a pipeline and (if present) registry."""
    return populate(tmp_path_factory.mktemp("ui") / ".lockgate")


@pytest.fixture(scope="module")
def client(populated: Populated) -> Iterator[TestClient]:
    """A read-only loopback dashboard (Host 127.0.0.1), with an edit token."""
    app = create_dashboard_app(populated.settings, AccessPolicy(token=TOKEN))
    with TestClient(app, base_url="http://127.0.0.1:5000") as test_client:
        yield test_client


class LiveServer:
    """A uvicorn server in a thread, stopped at teardown."""

    def __init__(self, app: object) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.time() + 120
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("the dashboard did not start within 120 s")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture(scope="module")
def live(populated: Populated) -> Iterator[LiveServer]:
    """The populated dashboard served on a free loopback port."""
    app = create_dashboard_app(populated.settings, AccessPolicy(token=TOKEN))
    with LiveServer(app) as server:
        yield server


def home_of(populated: Populated) -> Path:
    return Path(populated.settings.home)
