"""A user limited to its grants gets full pages: every listing with a limit applies the
user's visibility in the query, before the limit, never to the page it already cut.

Each test records more hidden items than the listing's limit, newer than one visible
item, so a listing that filters after its limit shows the scoped user nothing.
"""

from __future__ import annotations

import time

import pytest

from lockgate.artifacts import blob_store_for
from lockgate.artifacts.blob_store import uri_for
from lockgate.store import Store
from lockgate.store.tables_monitoring import monitor_incidents
from lockgate.ui.pages.models import MAX_TRAINED
from tests.server.conftest import Team


def _runs_that_logged_a_model(team: Team, experiment: str, count: int) -> list[str]:
    store = Store.open(team.settings)
    sha = blob_store_for(team.settings.resolved_artifact_root).put(b"model bytes")
    found = []
    for n in range(count):
        run_id = store.create_run(f"{experiment}-trained-{n}", experiment=experiment,
                                  status="FINISHED")
        store.add_artifact(run_id=run_id, name="model", uri=uri_for(sha), sha256=sha,
                           size=11, media_type="application/octet-stream")
        found.append(run_id)
    return found


def test_the_trained_models_of_a_scoped_user_are_not_cut_by_hidden_ones(team: Team) -> None:
    (visible,) = _runs_that_logged_a_model(team, "other", 1)
    _runs_that_logged_a_model(team, "alpha", MAX_TRAINED + 1)  # newer, hidden
    with team.client("other") as other:
        page = other.get("/models")
    assert page.status_code == 200, page.text[:300]
    assert f"/models/run/{visible}" in page.text and "alpha-trained" not in page.text
    with team.client("reader") as reader:  # a global reader: the newest 50, all alpha's
        assert f"/models/run/{visible}" not in reader.get("/models").text


def _incidents(store: Store, model: str, count: int, start: float) -> None:
    rows = [{"model_name": model, "rule": f"r{n}", "measure": "drift.share_drifted",
             "severity": "warning", "status": "resolved", "opened_at": start + n,
             "last_seen_at": start + n, "value": 0.5, "threshold": 0.3,
             "window_start": start, "window_end": start + n} for n in range(count)]
    with store.write() as conn:
        conn.execute(monitor_incidents.insert(), rows)


def test_the_incidents_of_a_scoped_user_are_not_cut_by_hidden_ones(team: Team) -> None:
    store = Store.open(team.settings)
    now = time.time()
    _incidents(store, "other-model", 1, now - 100)
    _incidents(store, "churn", 6, now)  # newer, hidden
    with team.client("other") as other:
        found = other.get("/api/v1/monitoring/incidents", params={"limit": 5}).json()
    assert [i["model_name"] for i in found] == ["other-model"]
    with team.client("reader") as reader:
        found = reader.get("/api/v1/monitoring/incidents", params={"limit": 5}).json()
    assert {i["model_name"] for i in found} == {"churn"} and len(found) == 5


@pytest.mark.parametrize("path", ["/api/v1/runs", "/api/v1/search"])
def test_the_runs_of_a_scoped_user_are_not_cut_by_hidden_ones(team: Team, path: str) -> None:
    store = Store.open(team.settings)
    visible = store.create_run("mine", experiment="other")
    for n in range(6):
        store.create_run(f"theirs-{n}", experiment="alpha")
    params = {"limit": 5} if path.endswith("runs") else {"max_results": 5}
    with team.client("other") as other:
        answer = other.get(path, params=params).json()
    runs = answer["runs"] if isinstance(answer, dict) else answer
    assert [r["id"] for r in runs] == [visible]


def test_the_pipelines_page_of_a_scoped_user_is_not_cut_by_hidden_ones(team: Team) -> None:
    from lockgate.ui.pages.pipelines import MAX_PIPELINES

    store = Store.open(team.settings)
    store.create_run("my-pipeline", experiment="other", kind="pipeline", status="FINISHED")
    for n in range(MAX_PIPELINES + 1):
        store.create_run(f"their-pipeline-{n}", experiment="alpha", kind="pipeline",
                         status="FINISHED")
    with team.client("other") as other:
        page = other.get("/pipelines").text
    assert "my-pipeline" in page and "their-pipeline" not in page
