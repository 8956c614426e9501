"""The tracking API's tests run twice: on the embedded store and through a live
``lockgate server`` on 127.0.0.1 (``LOCKGATE_TRACKING_URI``), a writer's token in
``LOCKGATE_TOKEN``. A test that needs the database itself is marked ``embedded_only``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lockgate.config import Settings
from tests.conftest import make_settings
from tests.server.remote import served_settings


@pytest.fixture(params=["embedded", "server"])
def settings(request: pytest.FixtureRequest, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings on a fresh SQLite store, or a client of a server in front of one."""
    local = make_settings(tmp_path / ".lockgate")
    if request.param == "embedded":
        yield local
        return
    if request.node.get_closest_marker("embedded_only"):
        pytest.skip("needs the database itself")
    with served_settings(tmp_path, monkeypatch) as client:
        yield client
