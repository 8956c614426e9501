"""Read scoping: a user limited to its grants (global role ``none``) sees the runs,
metrics, artifacts and lineage of its experiments only, through every listing and
lookup, and the dashboard (which shows everything) is refused to it. What it may not
see answers 404 exactly like something that does not exist."""

from __future__ import annotations

import dataclasses

import pytest

from lockgate.artifacts import blob_store_for
from lockgate.artifacts.blob_store import uri_for
from lockgate.errors import NotFoundError
from lockgate.security import accounts
from lockgate.store import Store
from lockgate.store.remote import RemoteStore
from tests.server.conftest import Team


@pytest.fixture
def two_teams(team: Team) -> dict[str, str]:
    """Runs in `alpha` and `other` with a metric, an artifact and a lineage edge each;
    `peek` reads `other` only."""
    store = Store.open(team.settings)
    runs = {}
    for experiment in ("alpha", "other"):
        run_id = store.create_run(f"{experiment}-run", experiment=experiment)
        store.log_metric_tuples([(run_id, "loss", 0, 1.0, 0.5)])
        data = experiment.encode() * 10
        sha = blob_store_for(team.settings.resolved_artifact_root).put(data)
        art = store.add_artifact(run_id=run_id, name="a", uri=uri_for(sha), sha256=sha,
                                 size=len(data), media_type="text/plain")
        store.add_lineage(run_id, "produced", artifact_id=art.id)
        runs[experiment] = run_id
        runs[f"{experiment}-sha"] = sha
        runs[f"{experiment}-artifact"] = str(art.id)
    accounts.create_user(store, "peek", "none")
    accounts.set_grant(store, "peek", "experiment", "other", "reader")
    team.tokens["peek"] = accounts.issue_token(store, "peek")
    return runs


@pytest.mark.parametrize("user", ["other", "peek"])
def test_listings_hold_only_the_experiments_a_user_may_see(team: Team, two_teams: dict[str, str],
                                                         user: str) -> None:
    with team.client(user) as client:
        assert client.get("/api/v1/experiments").json() == ["other"]
        listed = client.get("/api/v1/runs").json()["runs"]
        assert [r["experiment"] for r in listed] == ["other"]
        assert client.get("/api/v1/runs-count").json() == {"count": 1}
        found = client.get("/api/v1/search", params={"filter": "metrics.loss < 1"}).json()
        assert [r["id"] for r in found] == [two_teams["other"]]
        latest = client.get("/api/v1/latest-metrics",
                            params={"run_id": [two_teams["alpha"], two_teams["other"]]}).json()
        assert set(latest) == {two_teams["other"]}
        edges = client.get("/api/v1/lineage").json()
        assert {e["run_id"] for e in edges} == {two_teams["other"]}
    with team.client("reader") as reader:  # a global reader still sees both
        assert reader.get("/api/v1/experiments").json() == ["alpha", "other"]
        assert reader.get("/api/v1/runs-count").json() == {"count": 2}


@pytest.mark.parametrize("user", ["other", "peek"])
def test_what_a_user_may_not_see_answers_like_what_does_not_exist(
        team: Team, two_teams: dict[str, str], user: str) -> None:
    alpha = two_teams["alpha"]
    with team.client(user) as client:
        for path in (f"/api/v1/runs/{alpha}", f"/api/v1/runs/{alpha}/metrics",
                     f"/api/v1/runs/{alpha}/params", f"/api/v1/runs/{alpha}/artifacts",
                     f"/api/v1/artifacts/{two_teams['alpha-artifact']}",
                     f"/api/v1/blobs/{two_teams['alpha-sha']}"):
            hidden = client.get(path)
            missing = client.get(path.replace(alpha, "f" * 16).replace(
                two_teams["alpha-sha"], "e" * 64).replace(
                f"artifacts/{two_teams['alpha-artifact']}", "artifacts/999999"))
            assert hidden.status_code == missing.status_code == 404, (path, hidden.text)
            assert "alpha" not in hidden.text
        assert client.head(f"/api/v1/blobs/{two_teams['alpha-sha']}").status_code == 404
        assert client.get(f"/api/v1/blobs/{two_teams['other-sha']}").status_code == 200
        # naming the experiment it may not see: the same 404 as an unknown one, and no
        # "did you mean" listing names it may not see
        hidden = client.get("/api/v1/runs", params={"experiment": "alpha"})
        unknown = client.get("/api/v1/runs", params={"experiment": "nosuch"})
        assert hidden.status_code == unknown.status_code == 404
        assert hidden.text == unknown.text.replace("nosuch", "alpha")
        typo = client.get("/api/v1/runs", params={"experiment": "alphx"})
        assert typo.status_code == 404 and "`alpha`" not in typo.text, typo.text
        assert client.get("/api/v1/search", params={"experiment": "alpha"}).status_code == 404
        # writing to it: the same 404, nothing written
        wrote = client.post(f"/api/v1/runs/{alpha}/metrics",
                            json={"points": [["loss", 1, 1.0, 0.1]]})
        assert wrote.status_code == 404, wrote.text
    assert len(Store.open(team.settings).metrics(alpha, "loss")) == 1


def test_the_dashboard_is_refused_to_a_user_limited_to_its_grants(
        team: Team, two_teams: dict[str, str]) -> None:
    with team.client("peek") as client:
        for page in ("/", "/runs", f"/runs/{two_teams['alpha']}"):
            answer = client.get(page, follow_redirects=False)
            assert answer.status_code == 403 and "alpha-run" not in answer.text, page
    with team.client("reader") as reader:
        assert reader.get("/", follow_redirects=False).status_code == 200


def test_the_python_client_of_a_scoped_user_sees_its_experiments_only(
        team: Team, two_teams: dict[str, str]) -> None:
    remote = RemoteStore(team.url, team.tokens["peek"])
    try:
        assert [r.experiment for r in remote.list_runs()] == ["other"]
        assert remote.experiments() == ["other"]
        with pytest.raises(NotFoundError):
            remote.get_run(two_teams["alpha"])
        from lockgate.store.run_search import find_runs

        assert [r.id for r in find_runs(remote)] == [two_teams["other"]]
    finally:
        remote.close()


def test_a_grant_on_every_experiment_sees_all_and_a_new_grant_takes_effect_at_once(
        team: Team, two_teams: dict[str, str]) -> None:
    store = Store.open(team.settings)
    with team.client("peek") as client:
        assert client.get(f"/api/v1/runs/{two_teams['alpha']}").status_code == 404
        accounts.set_grant(store, "peek", "experiment", "alpha", "reader")
        assert client.get(f"/api/v1/runs/{two_teams['alpha']}").status_code == 200
        accounts.set_grant(store, "peek", "experiment", "*", "reader")
        assert client.get("/api/v1/runs-count").json() == {"count": 2}


def test_a_scoped_reader_cannot_write_its_own_experiment(team: Team,
                                                         two_teams: dict[str, str]) -> None:
    with team.client("peek") as client:
        refused = client.post(f"/api/v1/runs/{two_teams['other']}/tags",
                              json={"values": {"a": "b"}})
    assert refused.status_code == 403 and "needs writer" in refused.text


def test_a_user_role_none_is_accepted_only_as_a_global_role(team: Team) -> None:
    store = Store.open(team.settings)
    with pytest.raises(accounts.AccountError, match="Unknown role"):
        accounts.set_grant(store, "reader", "experiment", "x", "none")
    settings = dataclasses.replace(team.settings)
    assert Store.open(settings) is store
