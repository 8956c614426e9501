"""Lineage trees built from the store's edges, and their Graphviz form: read from the
store itself and through a live ``lockgate server`` in front of it (pipelines run where
the store is; the lineage API is the client's), plus the server's graph route."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lockgate.config import Settings
from lockgate.errors import NotFoundError
from lockgate.pipelines import run_pipeline
from lockgate.pipelines.lineage import lineage
from lockgate.store import Store
from lockgate.store.remote import RemoteStore

from .conftest import ModuleWriter, load
from .test_runner import CHAIN


@pytest.fixture(params=["embedded", "server"])
def reader(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Store]:
    """The store the lineage is read from: the store, or a reader's client of a server."""
    if request.param == "embedded":
        yield Store.open(settings)
        return
    from lockgate.security import accounts
    from lockgate.server import TeamServer
    from lockgate.store.remote import RemoteStore

    backend = Store.open(settings)
    accounts.init_admin(backend)
    accounts.create_user(backend, "viewer", "reader")
    with TeamServer(settings) as server:
        client = RemoteStore(server.url, accounts.issue_token(backend, "viewer"))
        yield client
        client.close()


def test_upstream_and_downstream_of_an_artifact(settings: Settings, reader: Store,
                                                write_module: ModuleWriter) -> None:
    result = run_pipeline(load(write_module(CHAIN)), settings=settings, max_workers=1)
    store = reader
    bumped = result.outputs["bumped"]
    found = lineage(store, f"artifact:{bumped.id}")
    assert found.upstream.children[0].label.startswith("step bump")
    xs_id = result.outputs["xs"].id
    assert found.upstream.children[0].children[0].label.startswith(f"artifact {xs_id} make.xs")
    assert found.upstream.children[0].children[0].children[0].label.startswith("step make")
    assert found.downstream.children[0].label.startswith("step total")
    dot = found.to_dot()
    assert f'"artifact:{bumped.id}" [label=' in dot and "style=bold" in dot
    assert f'"run:{result.step("bump").run_id}" -> "artifact:{bumped.id}";' in dot

    whole = lineage(store, result.run_id[:8])
    produced = {child.label.split()[2] for child in whole.downstream.children}
    assert produced == {"make.xs", "bump.bumped", "total.result"}
    assert whole.upstream.children == ()
    if isinstance(store, RemoteStore):  # the same graph as one REST answer
        graph = store.request("GET", "/lineage/graph",
                              params={"target": f"artifact:{bumped.id}"}).json()
        assert graph["upstream"] == found.upstream.to_dict() and graph["dot"] == dot


def test_unknown_targets_are_refused(reader: Store) -> None:
    store = reader
    with pytest.raises(NotFoundError, match="No run with id `zzzz`"):
        lineage(store, "zzzz")
    with pytest.raises(NotFoundError, match="No artifact with id 999"):
        lineage(store, "artifact:999")
