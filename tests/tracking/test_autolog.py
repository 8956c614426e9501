"""Autologging: off by default; when on, a top-level fit inside a run records params,
fit time and the model through its flavor; a search records its candidates as child
runs; nested fits and lockgate's own training are not logged twice."""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import numpy as np
import pytest
from lightgbm import LGBMClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import lockgate as lg
from lockgate.config import Settings
from lockgate.store import Store

autolog_module = importlib.import_module("lockgate.tracking.autolog")  # not the function


@pytest.fixture
def enabled() -> Iterator[None]:
    lg.autolog()
    yield
    lg.autolog(disable=True)


def _xy() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3))
    return x, (x[:, 0] > 0).astype(int)


def _run(settings: Settings, name: str = "fit") -> lg.Run:
    return lg.start_run(name, settings=settings, capture_console=False,
                        sample_hardware=False, capture_code=False)


def test_off_by_default(settings: Settings) -> None:
    assert not autolog_module.is_enabled()
    x, y = _xy()
    with _run(settings) as run:
        LogisticRegression().fit(x, y)
    assert Store.open(settings).artifacts(run.id) == []


def test_fit_records_params_time_and_the_flavored_model(settings: Settings,
                                                        enabled: None) -> None:
    x, y = _xy()
    with _run(settings) as run:
        make_pipeline(StandardScaler(), LGBMClassifier(n_estimators=5, verbose=-1)).fit(x, y)
    store = Store.open(settings)
    params = store.params(run.id)
    assert params["estimator"] == "Pipeline"
    assert store.metrics(run.id, "fit_time_s")[0].value > 0
    models = [a for a in store.artifacts(run.id) if a.name == "model"]
    assert len(models) == 1 and models[0].materializer == "model"  # lightgbm flavor, once
    LogisticRegression().fit(x, y)  # outside a run: nothing to record, no error


def test_search_records_each_candidate_as_a_child_run(settings: Settings,
                                                      enabled: None) -> None:
    x, y = _xy()
    with _run(settings, "search") as run:
        GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0, 10.0]}, cv=3).fit(x, y)
    store = Store.open(settings)
    children = store.list_runs(parent_id=run.id)
    assert len(children) == 3
    assert {store.params(c.id)["C"] for c in children} == {0.1, 1.0, 10.0}
    assert all("mean_test_score" in store.last_metrics([c.id])[c.id] for c in children)
    assert store.params(run.id)["best_params"]["C"] in (0.1, 1.0, 10.0)
    assert [a.name for a in store.artifacts(run.id)] == ["model"]


def test_suspended_blocks_fits_on_other_threads(settings: Settings, enabled: None) -> None:
    import threading

    x, y = _xy()
    with _run(settings) as run, autolog_module.suspended():
        worker = threading.Thread(target=lambda: LogisticRegression().fit(x, y))
        worker.start()
        worker.join()
    assert Store.open(settings).artifacts(run.id) == []
