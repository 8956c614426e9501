"""Registry fixtures: the shared model cases, a store and a registry.

The registry's tests run twice, like the tracking API's: on the embedded store and
through a live ``lockgate server`` on 127.0.0.1 (``LOCKGATE_TRACKING_URI``). The
client's user is an admin there, because the shared cases put v1 in production with
``Registry.transition`` (a gate override through the server; a writer's refusal is the
authorization matrix's business). ``actor`` is the name a test may record: any name
embedded, the token's user through the server. A test that needs the database or the
server's own files is marked ``embedded_only`` with the reason.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "cases"))

from lockgate.config import Settings
from lockgate.registry import Registry
from lockgate.store import Store
from tests.conftest import make_settings
from tests.server.remote import served_settings

FAST_GATES = "gates:\n  n_bootstrap: 200\n"


@pytest.fixture(params=["embedded", "server"])
def settings(request: pytest.FixtureRequest, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings on a fresh SQLite store, or a client of a server in front of one."""
    local = make_settings(tmp_path / ".lockgate")
    if request.param == "embedded":
        yield local
        return
    marker = request.node.get_closest_marker("embedded_only")
    if marker:
        pytest.skip(marker.args[0] if marker.args else "needs the database itself")
    with served_settings(tmp_path, monkeypatch, role="admin") as client:
        yield client


@pytest.fixture
def actor(settings: Settings) -> str:
    """A name the registry will record as the actor (the server's: its token's user)."""
    return "tester" if settings.tracking_uri else "ci"


@pytest.fixture
def store(settings: Settings) -> Store:
    return Store.open(settings)


@pytest.fixture
def registry(store: Store, settings: Settings) -> Registry:
    return Registry(store, settings)
