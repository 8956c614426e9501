"""Client settings pointed at a live ``lockgate server`` (shared by the test folders
that run their API tests against both the embedded store and a server)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockgate.config import Settings
from lockgate.security import accounts
from lockgate.server import TeamServer
from lockgate.store import Store
from tests.conftest import make_settings


@contextlib.contextmanager
def served_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                    role: str = "writer") -> Iterator[Settings]:
    """Start a server on its own store; yield client settings (own home, the server's
    URI) with a ``role`` user's token in LOCKGATE_TOKEN."""
    backend = make_settings(tmp_path / "server-home")
    store = Store.open(backend)
    accounts.init_admin(store)
    accounts.create_user(store, "tester", role)
    monkeypatch.setenv("LOCKGATE_TOKEN", accounts.issue_token(store, "tester"))
    with TeamServer(backend) as server:
        client = dataclasses.replace(make_settings(tmp_path / ".lockgate"),
                                     tracking_uri=server.url)
        try:
            yield client
        finally:
            Store.close_all(server.url)
