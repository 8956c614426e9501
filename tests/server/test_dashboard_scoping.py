"""The dashboard behind ``lockgate server`` shows each user only what its grants name.

`other` (global role none) holds grants on experiment `other` and model `other-model`;
experiment `alpha` and model `churn` are another team's. Every dashboard page `other`
may open leaves theirs out, and a page about theirs answers 404 as for something that
does not exist; pages that cannot be filtered (data tables, lineage, raw blobs) need a
global reader. A global reader still sees everything.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import pytest

from lockgate.store import Store
from lockgate.store import tables_monitoring as m
from lockgate.store import tables_registry as r
from lockgate.tracking import start_run
from tests.server.conftest import Team


@dataclass(frozen=True)
class Work:
    """One team's records: a run with an artifact, a pipeline run, a model."""

    run: str
    artifact: int
    pipeline: str
    model: str
    marker: str  # a name only this team's records carry


def _record(team: Team, experiment: str, model: str) -> Work:
    store = Store.open(team.settings)
    marker = f"secret-{experiment}"
    with start_run(f"{marker}-run", experiment=experiment, settings=team.settings,
                   capture_console=False, sample_hardware=False, capture_code=False) as run:
        run.log_metric("loss", 0.5)
        artifact = run.log_text(f"{marker} notes", f"{marker}.txt").id
        run_id = run.id
    pipeline = store.create_run(f"{marker}-pipeline", experiment=experiment, kind="pipeline",
                                status="FINISHED")
    now = time.time()
    with store.write() as conn:
        conn.execute(r.registered_models.insert().values(name=model, created_at=now))
        conn.execute(r.model_versions.insert().values(
            model_name=model, version=1, run_id=run_id, artifact_id=artifact,
            package_sha256="0" * 64, stage="candidate", created_by="tester",
            details=json.dumps({}), created_at=now))
        conn.execute(m.monitor_windows.insert().values(
            model_name=model, model_version=1, window_start=now - 60, window_end=now,
            n_predictions=10, n_labeled=0, measures=json.dumps({"drift.share_drifted": 0.1}),
            details=json.dumps({}), created_at=now))
    return Work(run_id, artifact, pipeline, model, marker)


@pytest.fixture
def works(team: Team) -> tuple[Work, Work]:
    """(`other`'s own work, another team's)."""
    return _record(team, "other", "other-model"), _record(team, "alpha", "churn")


def _pages(work: Work) -> list[str]:
    return [f"/runs/{work.run}", f"/runs/{work.run[:8]}",
            f"/compare?run={work.run}&run={work.pipeline}",
            f"/models/{work.model}/1", f"/models/run/{work.run}",
            f"/monitoring?model={work.model}", f"/pipelines/{work.pipeline}",
            f"/artifacts/{work.artifact}/download"]


def test_a_scoped_user_sees_only_its_grants_on_every_page(team: Team,
                                                          works: tuple[Work, Work]) -> None:
    own, theirs = works
    with team.client("other") as other:
        for path in ("/", "/models", "/monitoring", "/pipelines"):
            listing = other.get(path)
            assert listing.status_code == 200, (path, listing.text[:300])
            assert theirs.marker not in listing.text and "alpha" not in listing.text, path
            assert theirs.model not in listing.text.replace("other-model", ""), path
        assert own.marker in other.get("/").text
        assert "other-model" in other.get("/models").text
        assert own.marker in other.get("/pipelines").text
        assert other.get(f"/runs/{own.run}").status_code == 200
        assert other.get(f"/models/{own.model}/1").status_code == 200
        assert other.get(f"/artifacts/{own.artifact}/download").text == f"{own.marker} notes"
        for path in _pages(theirs):
            hidden = other.get(path)
            assert hidden.status_code == 404, (path, hidden.status_code, hidden.text[:300])
            assert theirs.marker not in hidden.text, path
        # an id that exists and one that does not answer alike
        assert other.get("/runs/ffffffffffffffff").status_code == 404
        hidden, unknown = other.get("/?experiment=alpha"), other.get("/?experiment=alphb")
        assert hidden.status_code == unknown.status_code == 400
        assert "No experiment `alpha`" in hidden.text and theirs.marker not in hidden.text


def test_pages_that_cannot_be_filtered_need_a_global_reader(team: Team,
                                                            works: tuple[Work, Work]) -> None:
    _own, theirs = works
    sha = Store.open(team.settings).artifact(theirs.artifact).sha256
    with team.client("other") as other:
        for path in ("/data", "/data/orders", f"/lineage?run={theirs.run}", f"/blobs/{sha}",
                     "/healthz"):
            refused = other.get(path)
            assert refused.status_code == 403, (path, refused.text[:300])
            assert "global reader" in refused.text and theirs.marker not in refused.text
        assert other.post("/views", data={"name": "v"}).status_code == 403


def test_a_global_reader_still_sees_every_experiment(team: Team,
                                                     works: tuple[Work, Work]) -> None:
    own, theirs = works
    with team.client("reader") as reader:
        runs = reader.get("/").text
        assert own.marker in runs and theirs.marker in runs
        assert theirs.model in reader.get("/models").text
        for path in [*_pages(theirs), "/?experiment=alpha"]:
            assert reader.get(path).status_code == 200, path
        assert reader.get("/data").status_code == 200
