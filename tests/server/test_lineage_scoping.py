"""Lineage for a user limited to its grants: an edge is answered only when every node it
names is one the user may see, so a visible run's lineage never names another team's
artifact, or a dataset version (dataset tables need a global reader)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from lockgate.artifacts import blob_store_for
from lockgate.artifacts.blob_store import uri_for
from lockgate.store import Store
from lockgate.store.remote import RemoteStore
from tests.server.conftest import Team


@pytest.fixture
def crossed(team: Team) -> dict[str, Any]:
    """`alpha`'s run produced an artifact and a dataset version that `other`'s run
    consumed; `other`'s run produced an artifact of its own."""
    store = Store.open(team.settings)
    blobs = blob_store_for(team.settings.resolved_artifact_root)
    found: dict[str, Any] = {}
    for experiment in ("alpha", "other"):
        run_id = store.create_run(f"{experiment}-run", experiment=experiment)
        data = f"{experiment} bytes".encode()
        sha = blobs.put(data)
        art = store.add_artifact(run_id=run_id, name="out", uri=uri_for(sha), sha256=sha,
                                 size=len(data), media_type="text/plain")
        store.add_lineage(run_id, "produced", artifact_id=art.id)
        found[experiment], found[f"{experiment}-artifact"] = run_id, art.id
        found[f"{experiment}-sha"] = sha
    dataset = store.add_dataset_version("orders", source="alpha", run_id=found["alpha"])
    store.add_lineage(found["alpha"], "produced", dataset_version_id=dataset.id)
    store.add_lineage(found["other"], "consumed", artifact_id=found["alpha-artifact"])
    store.add_lineage(found["other"], "consumed", dataset_version_id=dataset.id)
    found["dataset"] = dataset.id
    return found


def _edges(team: Team, user: str, **params: Any) -> list[tuple[str, str, Any, Any]]:
    with team.client(user) as client:
        answer = client.get("/api/v1/lineage", params=params)
    assert answer.status_code == 200, answer.text
    return sorted(((e["run_id"], e["direction"], e["artifact_id"], e["dataset_version_id"])
                   for e in answer.json()), key=str)


def test_a_visible_runs_lineage_names_no_hidden_artifact_or_dataset(
        team: Team, crossed: dict[str, Any]) -> None:
    own = (crossed["other"], "produced", crossed["other-artifact"], None)
    assert _edges(team, "other", run_id=crossed["other"]) == [own]
    assert _edges(team, "other") == [own]
    for hidden in ({"artifact_id": crossed["alpha-artifact"]},
                   {"sha256": crossed["alpha-sha"]},
                   {"dataset_version_id": crossed["dataset"]}):
        assert _edges(team, "other", **hidden) == [], hidden
    # a global reader sees every edge
    assert len(_edges(team, "reader", run_id=crossed["other"])) == 3
    assert len(_edges(team, "reader")) == 5


def test_the_python_client_of_a_scoped_user_reads_the_same_lineage(
        team: Team, crossed: dict[str, Any]) -> None:
    remote = RemoteStore(team.url, team.tokens["other"])
    try:
        edges = remote.lineage(run_id=crossed["other"])
    finally:
        remote.close()
    assert [(e.artifact_id, e.dataset_version_id) for e in edges] == [
        (crossed["other-artifact"], None)]


def test_a_scoped_writer_records_lineage_only_to_what_it_may_see(
        team: Team, crossed: dict[str, Any]) -> None:
    """Recording that its run consumed another team's artifact (or a dataset version,
    which it may not read) is refused with the words a missing id gets, so the refusal
    tells nothing about what exists; a missing id is a 404 for everyone, never a
    database error."""
    def post(user: str, **node: Any) -> httpx.Response:
        with team.client(user) as client:
            return client.post("/api/v1/lineage", json={
                "run_id": crossed["other"], "direction": "consumed", **node})

    before = len(_edges(team, "reader"))
    hidden, missing = post("other", artifact_id=crossed["alpha-artifact"]), \
        post("other", artifact_id=10**9)
    assert (hidden.status_code, missing.status_code) == (404, 404), (hidden.text, missing.text)
    assert hidden.json()["detail"].replace(str(crossed["alpha-artifact"]), "N") == \
        missing.json()["detail"].replace(str(10**9), "N")
    dataset, no_dataset = post("other", dataset_version_id=crossed["dataset"]), \
        post("other", dataset_version_id=10**9)
    assert (dataset.status_code, no_dataset.status_code) == (404, 404)
    assert dataset.json()["detail"].replace(str(crossed["dataset"]), "N") == \
        no_dataset.json()["detail"].replace(str(10**9), "N")
    assert post("writer", artifact_id=10**9).status_code == 404  # a global writer too
    assert len(_edges(team, "reader")) == before  # nothing recorded
    assert post("other", artifact_id=crossed["other-artifact"]).status_code == 200
    assert post("writer", artifact_id=crossed["alpha-artifact"]).status_code == 200
