"""Importing real MLflow stores (a file store and a SQLite store made by MLflow itself,
committed under tests/fixtures/mlflow by scripts/make_mlflow_stores.py), moved to
another folder as copied stores are; idempotent; pickle only on request."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lockgate.artifacts import ArtifactStore
from lockgate.cli.main import main
from lockgate.config import Settings
from lockgate.registry.mlflow_import import PICKLE_TAG, RUN_TAG, import_mlflow
from lockgate.registry.mlflow_store import MlflowStoreError
from lockgate.store import Store

# Every test runs embedded and through a live `lockgate server` (tests/registry's
# `settings`): the import writes runs, params, metrics, tags and artifacts through the
# store's API, and finds an earlier import of the same store through its search.


FIXTURES = Path(__file__).parents[1] / "fixtures" / "mlflow"


@pytest.fixture(params=["file", "sqlite"])
def uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A copy of the store in another folder (its recorded file:// paths point nowhere)."""
    copy = tmp_path / "moved"
    shutil.copytree(FIXTURES, copy)
    if request.param == "file":
        return str(copy / "file_store")
    return f"sqlite:///{copy / 'sqlite' / 'mlflow.db'}"


def _runs(store: Store, report) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {store.get_run(run_id).name: run_id for run_id in report.imported_runs.values()}


def test_runs_metrics_artifacts_and_models_are_imported(uri: str, settings: Settings) -> None:
    report = import_mlflow(uri, experiments=["churn"], settings=settings)
    store = Store.open(settings)
    runs = _runs(store, report)
    assert set(runs) == {"lgbm", "xgb", "sklearn-pickle", "sklearn-cloudpickle"}
    lgbm = runs["lgbm"]
    assert store.params(lgbm) == {"num_leaves": "7", "learning_rate": "0.1"}  # as MLflow kept them
    tags = store.tags(lgbm)
    assert tags["team"] == "churn" and tags[RUN_TAG] in report.imported_runs
    assert tags["mlflow.registered_model.churn"] == "1 aliases=champion"
    loss = sorted({(p.step, p.value) for p in store.metrics(lgbm, "train_loss")})
    assert loss == [(0, 0.69), (1, 0.52), (2, 0.41)]  # (the file store repeats step 0)
    assert all(p.timestamp > 1.6e9 for p in store.metrics(lgbm, "train_loss"))
    artifacts = {a.name: a for a in store.artifacts(lgbm)}
    readme = ArtifactStore.open(settings).read_bytes(artifacts["notes/readme.txt"])
    assert readme == b"hello from mlflow\n"
    assert report.models[store.tags(runs["xgb"])[RUN_TAG]] == "xgboost"
    assert report.models[tags[RUN_TAG]] == "lightgbm"
    assert report.models[store.tags(runs["sklearn-pickle"])[RUN_TAG]] == "sklearn"  # skops
    model = ArtifactStore.open(settings).load(artifacts["model"])
    assert np.asarray(model.predict(np.zeros((2, 3)))).shape == (2,)
    skipped = " ".join(report.skipped)
    assert "model `model` not converted: it is stored as cloudpickle" in skipped
    assert "--trust-pickle" in skipped


def test_a_second_import_imports_nothing_new(uri: str, settings: Settings) -> None:
    first = import_mlflow(uri, settings=settings)
    second = import_mlflow(uri, settings=settings)
    assert second.imported_runs == {}
    assert second.already_imported == first.imported_runs
    assert Store.open(settings).count_runs() == len(first.imported_runs)


def test_pickle_models_only_with_trust_pickle_and_recorded(uri: str, settings: Settings) -> None:
    report = import_mlflow(uri, experiments=["churn"], trust_pickle=True, settings=settings)
    store = Store.open(settings)
    run_id = _runs(store, report)["sklearn-cloudpickle"]
    assert "converted from pickle with --trust-pickle" in store.tags(run_id)[PICKLE_TAG]
    record = {a.name: a for a in store.artifacts(run_id)}["model"]
    assert record.materializer == "skops"  # stored safely: no server unpickles it
    assert not report.skipped


def test_cli_reports_and_refuses_unknown_experiments(uri: str, settings: Settings,
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCKGATE_HOME", str(settings.home))
    if settings.tracking_uri:  # the client of a server, as the settings fixture made it
        monkeypatch.setenv("LOCKGATE_TRACKING_URI", settings.tracking_uri)
    assert main(["import", "mlflow", "--tracking-uri", uri, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["imported_runs"]) == 4 and len(out["versions"]) == 3
    assert main(["import", "mlflow", "--tracking-uri", uri, "--experiment", "churm"]) == 1
    assert "No experiment ['churm']" in capsys.readouterr().err
    with pytest.raises(MlflowStoreError, match="scheme `http`"):
        import_mlflow("http://mlflow.example:5000", settings=settings)
