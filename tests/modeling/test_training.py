"""Training end to end: the training gate, tracking, nested search, learning curves,
the Ray executor and the findings in `lockgate runs show ID --json`."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression

from lockgate.artifacts import ArtifactStore, LocalBlobStore
from lockgate.data import ingest
from lockgate.data.training_gate import UnvalidatedDataError
from lockgate.modeling import EvaluationRecord, SearchError, TrainConfig, train, train_frame
from lockgate.store import Store
from lockgate.tracking.report import run_summary
from tests.modeling.datasets import churn, churn_contract, series, series_contract

FAST = TrainConfig(n_splits=3, inner_splits=2, bootstrap=50, importance_rows=200)


def _load(settings, artifact_id):
    store = Store.open(settings)
    return ArtifactStore(store, LocalBlobStore(settings.resolved_artifact_root)).load(artifact_id)


def test_train_reads_a_validated_version_and_records_everything(settings) -> None:
    landed = ingest(churn(400), "churn", churn_contract(), settings=settings)
    result = train("churn", LogisticRegression(max_iter=300), settings=settings,
                   experiment="churn", param_grid={"C": [0.1, 1.0]},
                   config=FAST)
    record = result.evaluation
    assert record.dataset == {"table": "churn", "version": landed.version,
                              "dataset_version_id": landed.dataset_version.id,
                              "rows_without_target": 0}
    assert record.splitter == "iid" and record.leak_free and record.beats_baseline
    assert result.best_params["C"] in (0.1, 1.0)
    assert set(record.cv_metrics["roc_auc"]) and len(record.cv_metrics["roc_auc"]) == 3
    lo, hi = record.intervals["roc_auc"]
    assert lo <= record.metrics["roc_auc"] <= hi
    assert record.holdout["key"] == "customer_id" and len(record.holdout["ids"]) == len(
        result.plan.holdout)

    summary = run_summary(Store.open(settings), result.run_id)
    names = {a["name"] for a in summary["artifacts"]}
    assert {"model", "evaluation", "findings", "split_plan", "chart_roc", "chart_pr",
            "chart_calibration", "chart_confusion_matrix",
            "chart_permutation_importance"} <= names
    assert summary["params"]["splitter"] == "iid"
    assert summary["params"]["leakage_findings"] == record.findings
    assert summary["tags"]["leak_free"] == "true"
    assert {"cv_roc_auc", "roc_auc", "baseline_roc_auc", "time_fit_final_s"} <= set(
        summary["metrics"])
    assert [e["role"] for e in summary["lineage"] if e["direction"] == "consumed"]

    model = _load(settings, result.model_artifact_id)
    frame = churn(20, seed=5).drop("churned")
    assert np.allclose(model.predict_proba(frame), result.pipeline.predict_proba(frame))
    stored = EvaluationRecord.from_dict(_load(settings, _artifact(summary, "evaluation")))
    assert stored == record


def test_train_refuses_an_unvalidated_version(settings) -> None:
    landed = ingest(churn(200), "churn", churn_contract(), settings=settings)
    Store.open(settings).update_dataset_version(landed.dataset_version.id,
                                                validation_status="failed")
    with pytest.raises(UnvalidatedDataError, match="Refusing to train on churn@v"):
        train("churn", LogisticRegression(), settings=settings, config=FAST)
    result = train("churn", LogisticRegression(), settings=settings,
                   config=TrainConfig(n_splits=3, bootstrap=20, charts=False, naive=()),
                   allow_unvalidated="checked by hand")
    assert result.evaluation.metrics["roc_auc"] > 0.5


def test_time_split_with_boosting_learning_curve(settings) -> None:
    model = HistGradientBoostingRegressor(max_iter=25, early_stopping=False)
    result = train_frame(series(), series_contract(event_time="day"), model,
                         settings=settings, config=FAST)
    assert result.evaluation.splitter == "time"
    assert "expanding-window" in result.evaluation.splitter_reason
    store = Store.open(settings)
    curve = store.metrics(result.run_id, "curve_holdout_rmse")
    assert len(curve) == 25 and curve[-1].value < curve[0].value
    assert len(store.metrics(result.run_id, "cv_rmse")) == 3
    summary = run_summary(store, result.run_id)
    assert {"chart_residuals", "chart_learning_curve"} <= {a["name"] for a in summary["artifacts"]}


def test_multiclass_with_slices(settings) -> None:
    frame = churn(500).with_columns(
        pl.when(pl.col("tenure") < 20).then(pl.lit("new"))
        .when(pl.col("tenure") < 50).then(pl.lit("mid")).otherwise(pl.lit("old"))
        .alias("segment"))
    from lockgate.data import ColumnSpec

    contract = churn_contract(target="segment", columns=(
        *churn_contract().columns, ColumnSpec("segment", "category")))
    result = train_frame(frame, contract, LogisticRegression(max_iter=500), settings=settings,
                         config=TrainConfig(n_splits=3, bootstrap=50, slices=("plan",),
                                            naive=()))
    record = result.evaluation
    assert record.problem_type == "multiclass" and record.primary_metric == "roc_auc"
    assert record.metrics["accuracy"] > 0.7  # tenure is a feature
    assert set(record.slices["plan"]) >= {"basic", "plus", "pro"}


def test_unknown_grid_key_is_refused(settings) -> None:
    refused = r"\[.max_dept.\] are not parameters of HistGradientBoostingRegressor. Did you"
    with pytest.raises(SearchError, match=refused + " mean `max_depth`"):
        train_frame(series(), series_contract(event_time="day"),
                    HistGradientBoostingRegressor(), settings=settings,
                    param_grid={"max_dept": [2]}, config=FAST)


@pytest.mark.ray
def test_ray_executor_gives_the_local_result(settings) -> None:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        config = TrainConfig(n_splits=3, inner_splits=2, bootstrap=20, charts=False, naive=(),
                             executor="ray")
        on_ray = train_frame(churn(300), churn_contract(), LogisticRegression(max_iter=300),
                             settings=settings, param_grid={"C": [0.1, 1.0]}, config=config)
    finally:
        ray.shutdown()
    local = train_frame(churn(300), churn_contract(), LogisticRegression(max_iter=300),
                        settings=settings, param_grid={"C": [0.1, 1.0]},
                        config=TrainConfig(n_splits=3, inner_splits=2, bootstrap=20,
                                           charts=False, naive=()))
    for key, values in local.evaluation.cv_metrics.items():
        assert on_ray.evaluation.cv_metrics[key] == pytest.approx(values)
    assert [f.best_params for f in on_ray.folds] == [f.best_params for f in local.folds]


def test_findings_in_runs_show_json(settings, monkeypatch, capsys) -> None:
    leaky = churn(400).with_columns(pl.col("churned").cast(pl.Float64).alias("refund"))
    contract = churn_contract(extra=[("refund", "float")])
    result = train_frame(leaky, contract, LogisticRegression(max_iter=300), settings=settings,
                         config=TrainConfig(n_splits=3, bootstrap=20, charts=False, naive=()))
    assert not result.evaluation.leak_free
    assert [f.code for f in result.findings if f.severity == "blocking"] == ["target_proxy"]
    from lockgate.cli.main import main

    monkeypatch.setenv("LOCKGATE_HOME", str(settings.home))
    capsys.readouterr()
    assert main(["runs", "show", result.run_id, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["params"]["leak_free"] is False
    assert shown["params"]["leakage_findings"][0]["code"] == "target_proxy"


def _artifact(summary: dict, name: str) -> int:
    return next(a["id"] for a in summary["artifacts"] if a["name"] == name)


def test_grouped_permutation_importance_maps_raw_columns() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    from lockgate.modeling.diagnostics import _output_groups, importances
    from lockgate.modeling.features import build_pipeline

    frame = churn(900)
    x = frame.select(churn_contract().feature_columns).to_pandas()
    y = frame["churned"].to_numpy()
    model = build_pipeline(churn_contract(), HistGradientBoostingClassifier(max_iter=40))
    model.fit(x[:600], y[:600])
    groups = _output_groups(model, list(x.columns))
    assert len(groups["signup"]) == 5 and len(groups["plan"]) == 4  # 3 plans + missing
    found = importances(model, x[600:], y[600:], "binary", 1000, 0)
    assert max(found, key=lambda k: found[k][0]) == "tenure"
    assert abs(found["paperless"][0]) < 0.02


@pytest.mark.parametrize(("options", "message"), [
    ({"executor": "dask"}, r"executor='dask': choose one of \['local', 'ray'\]"),
    ({"features": "raw"}, r"features='raw': choose 'contract' or 'passthrough'"),
    ({"inner_splits": 1}, r"inner_splits=1: the nested search needs at least 2"),
    ({"bootstrap": 0}, r"bootstrap=0: the confidence intervals .* at least 1 replicate"),
])
def test_unusable_train_config_is_refused_up_front(options, message) -> None:
    from lockgate.modeling import TrainingError

    with pytest.raises(TrainingError, match=message):
        TrainConfig(**options)


def test_small_tables_fit_on_one_native_thread(settings) -> None:
    """#19: `lockgate train` spent minutes on a 569-row table because every fit used all
    OpenMP threads, whose per-split synchronisation dwarfs the work on small data (and
    stalls on a busy machine). Small tables now fit on one thread, observed from inside
    the cross-validation; the rule is recorded and can be overridden."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from lockgate.modeling import TrainConfig, train_frame
    from lockgate.modeling.training import TrainingError
    from lockgate.store import Store
    from lockgate.tracking import progress
    from tests.modeling.datasets import churn, churn_contract

    seen: list[int] = []

    def during_folds(event) -> None:
        if event.task == "cross-validation folds" and event.kind == "advance":
            seen.extend(p["num_threads"] for p in threadpool_info()
                        if p["internal_api"] == "openmp")

    config = TrainConfig.for_budget("quick", naive=(), charts=False)
    # this folder's conftest pins one thread; give the pools several, as outside tests
    with threadpool_limits(limits=4, user_api="openmp"), progress.reporting(during_folds):
        result = train_frame(churn(300), churn_contract(), LogisticRegression(max_iter=300),
                             settings=settings, config=config)
    assert seen and set(seen) == {1}
    assert Store.open(settings).params(result.run_id)["config"]["threads"] == 1
    with pytest.raises(TrainingError, match="threads=0: give at least 1"):
        TrainConfig(threads=0)
