"""A small but complete store for the dashboard tests: real tracked runs, artifacts,
figures, dataset versions, lineage, a pipeline with steps, and (when the registry and
monitoring stages' tables exist) a registered model and monitoring windows."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from sklearn.linear_model import LogisticRegression

from lockgate.config import Settings
from lockgate.store import Store
from lockgate.tracking import start_run


@dataclass
class Populated:
    """Ids of what was recorded, for assertions."""

    settings: Settings
    runs: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, int] = field(default_factory=dict)
    dataset_versions: dict[str, int] = field(default_factory=dict)
    registered: bool = False
    monitored: bool = False


def populate(home: Path, db_url: str | None = None) -> Populated:
    """Record everything the dashboard shows (SQLite in ``home`` unless ``db_url``)."""
    settings = Settings(home=home, db_url=db_url, heartbeat_seconds=0.5,
                        hardware_seconds=0.1, metric_flush_seconds=0.2)
    out = Populated(settings)
    store = Store.open(settings)
    _data(store, out)
    _runs(settings, store, out)
    _pipeline(settings, store, out)
    out.registered = _registry(store, out)
    out.monitored = _monitoring(store)
    return out


def _data(store: Store, out: Populated) -> None:
    ingest = store.create_run("ingest-orders", experiment="data", kind="ingest")
    checks = {"amount_range": {"passed": 95, "failed": 5, "level": "row", "ok": True},
              "schema": {"passed": 1, "failed": 0, "level": "batch", "ok": True}}
    v0 = store.add_dataset_version(
        "orders", source="orders_jan.csv", rows_ingested=100, rows_accepted=95,
        rows_quarantined=5, validation_status="passed", checks=checks, run_id=ingest,
        details={"reasons": {"amount_out_of_range": 3, "duplicate_key": 2}, "delta_version": 0},
        contract_version="1")
    v1 = store.add_dataset_version(
        "orders", source="orders_feb.csv", rows_ingested=80, rows_accepted=72,
        rows_quarantined=8, validation_status="failed", run_id=ingest,
        checks=checks | {"scale_change": {"passed": 0, "failed": 1, "level": "batch",
                                          "ok": False}},
        details={"reasons": {"amount_out_of_range": 8}, "delta_version": 1},
        contract_version="1")
    store.add_lineage(ingest, "produced", dataset_version_id=v0.id, role="orders@v0")
    store.add_lineage(ingest, "produced", dataset_version_id=v1.id, role="orders@v1")
    store.end_run(ingest, "FINISHED")
    out.runs["ingest"] = ingest
    out.dataset_versions = {"v0": v0.id, "v1": v1.id}


def _runs(settings: Settings, store: Store, out: Populated) -> None:
    rng = np.random.default_rng(0)
    for i, (lr, depth) in enumerate([(0.1, 3), (0.01, 5), (0.001, 5)]):
        params = {"lr": lr, "depth": depth, "optimizer": "adam" if i else "sgd"}
        with start_run(f"train-{i}", experiment="churn", params=params,
                       tags={"team": "risk" if i < 2 else "growth"},
                       settings=settings) as run:
            for epoch in range(8):
                run.log_metric("loss", 1.0 / (epoch + 1) + lr, step=epoch)
                run.log_metric("auc", 0.7 + 0.03 * epoch - lr, step=epoch)
            print(f"training train-{i} done <script>alert(1)</script>")
            if i == 0:
                for fold, value in enumerate([0.90, 0.92, 0.89, 0.93, 0.91]):
                    run.log_metric("cv_roc_auc", value, step=fold)
                dv = store.dataset_version_by_id(out.dataset_versions["v0"])
                run.consumed(dv, role="training data")
                x = rng.normal(size=(40, 3))
                model = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
                out.artifacts["model"] = run.log_value(model, "model").id
                evaluation = {
                    "problem_type": "binary", "primary_metric": "roc_auc",
                    "greater_is_better": True,
                    "metrics": {"roc_auc": 0.91, "accuracy": 0.86},
                    "intervals": {"roc_auc": [0.88, 0.94], "accuracy": [0.82, 0.9]},
                    "baseline_metrics": {"roc_auc": 0.5, "accuracy": 0.55},
                    "beats_baseline": True, "cv_metrics": {"roc_auc": [0.9, 0.92, 0.89]},
                    "findings": [{"code": "class_imbalance", "severity": "warning",
                                  "message": "positives are 20% of rows", "evidence": {}}],
                    "leak_free": True, "splitter": "StratifiedKFold",
                    "splitter_reason": "iid rows",
                    "dataset": {"table": "orders", "version": 0,
                                "dataset_version_id": dv.id},
                    "holdout": {"key": "__row__", "ids": []},
                }
                out.artifacts["evaluation"] = run.log_dict(evaluation, "evaluation").id
                figure = go.Figure(go.Bar(x=["a", "b"], y=[3, 5]))
                figure.update_layout(title="Feature importance")
                out.artifacts["figure"] = run.log_figure(figure, "importance").id
                path = Path(settings.home) / "report.txt"
                path.write_text("hello from an artifact\n")
                out.artifacts["file"] = run.log_artifact(path, name="report.txt").id
                run.note("first baseline")
                time.sleep(0.4)  # a few hardware samples
            out.runs[f"train-{i}"] = run.id
    try:
        with start_run("broken", experiment="churn", params={"lr": 5.0},
                       settings=settings) as run:
            out.runs["broken"] = run.id
            raise RuntimeError("diverged: loss is nan")
    except RuntimeError:
        pass
    consumer = store.create_run("score-batch", experiment="churn")
    store.add_lineage(consumer, "consumed", artifact_id=out.artifacts["model"], role="model")
    store.end_run(consumer, "FINISHED")
    out.runs["score"] = consumer


def _pipeline(settings: Settings, store: Store, out: Populated) -> None:
    with start_run("nightly", experiment="pipelines", kind="pipeline", settings=settings,
                   capture_console=False, sample_hardware=False) as pipe:
        for name, status in (("load", "CACHED"), ("features", "FINISHED"),
                             ("train", "FAILED")):
            step = store.create_run(name, experiment="pipelines", kind="step",
                                    parent_id=pipe.id)
            store.end_run(step, status, error="ValueError: bad fold" if status == "FAILED"
                          else None)
            out.runs[f"step-{name}"] = step
    out.runs["pipeline"] = pipe.id


def _registry(store: Store, out: Populated) -> bool:
    """A registered version with a promotion, written to the registry stage's tables."""
    try:
        from lockgate.store import tables_registry as r
    except ImportError:
        return False
    now = time.time()
    model = store.artifact(out.artifacts["model"])
    with store.write() as conn:
        conn.execute(r.registered_models.insert().values(name="churn", created_at=now))
        conn.execute(r.model_versions.insert().values(
            model_name="churn", version=1, run_id=out.runs["train-0"], artifact_id=model.id,
            package_sha256=model.sha256, stage="production", created_by="tester",
            details=json.dumps({"problem_type": "binary", "primary_metric": "roc_auc",
                                "metrics": {"roc_auc": 0.91}, "dataset": "orders@v0"}),
            created_at=now))
        conn.execute(r.model_aliases.insert().values(model_name="churn", alias="production",
                                                     version=1, updated_at=now))
        conn.execute(r.model_transitions.insert().values(
            model_name="churn", version=1, action="promote", from_stage="candidate",
            to_stage="production", actor="tester", reason="beats champion",
            gates=json.dumps([{"name": "beats_baseline", "passed": True,  # GateResult.to_dict()
                               "reason": "0.91 > 0.5", "details": {}}]), created_at=now))
    return True


def _monitoring(store: Store) -> bool:
    try:
        from lockgate.store import tables_monitoring as m
    except ImportError:
        return False
    now = time.time()
    # The shapes lockgate.monitoring.monitor writes: namespaced measures, drift rows.
    drift = [
        {"name": "amount", "kind": "numeric", "psi": 0.4, "statistic": 0.4, "threshold": 0.2,
         "drifted": True, "p_value": 0.001},
        {"name": "region", "kind": "categorical", "psi": 0.01, "statistic": 0.01,
         "threshold": 0.2, "drifted": False, "p_value": 0.8}]
    with store.write() as conn:
        for i in range(4):
            conn.execute(m.monitor_windows.insert().values(
                model_name="churn", model_version=1, window_start=now - (4 - i) * 3600,
                window_end=now - (3 - i) * 3600, n_predictions=100 + i, n_labeled=50,
                measures=json.dumps({"latency.p95_ms": 10.0 + i,
                                     "performance.accuracy": 0.9 - 0.05 * i,
                                     "drift.share_drifted": 0.1 * i,
                                     "volume.predictions": 100.0 + i, "labels.coverage": None}),
                details=json.dumps({"drift": drift}), created_at=now))
        conn.execute(m.monitor_incidents.insert().values(
            model_name="churn", rule="accuracy_drop", measure="accuracy", severity="critical",
            status="open", open_key="churn\x1faccuracy_drop", opened_at=now, last_seen_at=now,
            value=0.75, threshold=0.8, window_start=now - 3600, window_end=now,
            root_cause=json.dumps({"summary": "amount drifted (psi 0.40) after orders@v1"}),
            deliveries="[]"))
    return True
