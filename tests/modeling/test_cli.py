"""`lockgate train`: thin CLI over `lockgate.modeling.train`."""

from __future__ import annotations

import json

import pytest

from lockgate.cli.main import main
from lockgate.data import ingest
from lockgate.modeling.estimator_spec import EstimatorSpecError, load_estimator, parse_assignments
from tests.modeling.datasets import churn, churn_contract


def test_train_command_json(settings, monkeypatch, capsys) -> None:
    ingest(churn(300), "churn", churn_contract(), settings=settings)
    monkeypatch.setenv("LOCKGATE_HOME", str(settings.home))
    code = main(["train", "churn", "-m", "logistic", "--set", "max_iter=300",
                 "--grid", "C=0.1,1.0", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["evaluation"]["splitter"] == "iid" and out["evaluation"]["leak_free"]
    assert out["evaluation"]["holdout"]["rows"] > 30


def test_train_command_reports_bad_input_without_traceback(settings, monkeypatch,
                                                            capsys) -> None:
    monkeypatch.setenv("LOCKGATE_HOME", str(settings.home))
    assert main(["train", "churn", "-m", "sklearn.nope.Model"]) == 1
    assert "Cannot import estimator `sklearn.nope.Model`" in capsys.readouterr().err


def test_estimator_spec_parsing() -> None:
    assert parse_assignments(["max_depth=3", "loss=log_loss", "x=null"]) == {
        "max_depth": 3, "loss": "log_loss", "x": None}
    assert parse_assignments(["C=0.1,1"], lists=True) == {"C": [0.1, 1]}
    with pytest.raises(EstimatorSpecError, match="`depth` is not key=value"):
        parse_assignments(["depth"])
    with pytest.raises(EstimatorSpecError, match="Bad parameters for"):
        load_estimator("logistic", {"depth": 3})
    assert type(load_estimator("hgb-regressor")).__name__ == "HistGradientBoostingRegressor"


def test_train_budget_is_explicit_and_its_effect_stated(settings, monkeypatch,
                                                         capsys) -> None:
    ingest(churn(300), "churn", churn_contract(), settings=settings)
    monkeypatch.setenv("LOCKGATE_HOME", str(settings.home))
    assert main(["train", "churn", "-m", "logistic", "--set", "max_iter=300",
                 "--budget", "quick"]) == 0
    out = capsys.readouterr().out
    assert "Budget quick: 3 CV folds, 50 bootstrap replicates" in out
    assert "`--budget thorough` (1000 replicates) would bring that to ±" in out
    # what the quick budget gives up is said next to its figures, and what it keeps
    said = " ".join(out.split())
    assert "Quicker and less thorough than standard" in said
    assert "read from 3 fold scores instead of 5" in said
    assert "the leakage checks and the holdout are unchanged" in said
    from lockgate.store import Store

    store = Store.open(settings)
    run = store.list_runs(experiment="default")[0]
    assert store.params(run.id)["config"]["budget"] == "quick"
    assert len([p for p in store.metrics(run.id) if p.key == "cv_fit_seconds"]) == 3
    log = store.console(run.id)
    for phase in ("cross-validation folds: done 3/3 folds", "holdout evaluation (bootstrap): "
                  "done", "charts and permutation importance: done"):
        assert f"[progress] {phase}" in log
    assert main(["train", "churn", "--budget", "quik"]) == 1
    assert "choose one of quick, standard, thorough" in capsys.readouterr().err
