"""Quickstart section: a tracked training run on a dataset shipped with scikit-learn."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from lockgate.demo.context import DemoContext
from lockgate.tracking import Run, start_run
from lockgate.tracking.report import compare_runs
from lockgate.tracking.run_view import get_run
from lockgate.tracking.search import search_runs

EPOCHS = 30


def run(ctx: DemoContext) -> None:
    """Train a small model epoch by epoch, logging params, a learning curve, the model
    and a chart; train it again with another alpha and compare the two runs."""
    ctx.heading("Tracking: recorded training runs, compared")
    x, y = load_breast_cancer(return_X_y=True)
    data = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    tracked = _train(ctx, data, alpha=1e-3, name="sgd-baseline")
    other = _train(ctx, data, alpha=1e-1, name="sgd-strong-penalty")
    ctx.results["tracking_run_id"] = tracked.id
    ctx.console.print(
        f"  Recorded run [bold]{tracked.id}[/]: 4 params, {EPOCHS + 1} metric points, the "
        "model (skops), a chart, a note, console output, code version, environment and "
        "hardware samples."
    )
    _expect_recorded(ctx, tracked)
    comparison = compare_runs(ctx.store, [tracked.id, other.id])
    differ = list(comparison["params_differ"])
    ctx.expect(differ == ["alpha"], "tracking", "the two runs to differ in alpha only",
               f"params that differ: {differ}")
    ctx.console.print(f"  Compared: params that differ: {', '.join(comparison['params_differ'])}")
    for key, values in comparison["metrics"].items():
        best = comparison["best"][key]
        shown = ", ".join(f"{'*' if i == best else ''}{v:.4f}" for i, v in values.items())
        ctx.console.print(f"    {key}: {shown} (* best)")
    _read_back(ctx, tracked.id)
    ctx.hint("Look at it", f"lockgate runs show {tracked.id}")
    ctx.hint("Compare them", f"lockgate runs compare {tracked.id} {other.id}")
    ctx.hint("List runs", "lockgate runs list --experiment quickstart --sort val_roc_auc")
    ctx.hint("Fetch its files", f"lockgate artifacts get {tracked.id} model --out fetched/")


def _read_back(ctx: DemoContext, run_id: str) -> None:
    """Search runs with the dashboard's filter language and load a past run's model,
    from Python, as a notebook would."""
    found = search_runs("params.alpha < 0.01", order_by="metrics.val_roc_auc DESC",
                        experiment="quickstart", settings=ctx.settings)
    ids = found["run_id"].to_list()
    ctx.expect(run_id in ids, "tracking", f"search_runs finds run {run_id}", str(ids))
    model = get_run(run_id, settings=ctx.settings).artifact("model")
    ctx.expect(hasattr(model, "predict_proba"), "tracking",
               "get_run(...).artifact('model') is a fitted pipeline", type(model).__name__)
    ctx.console.print(
        f"  Read back from Python: lg.search_runs('params.alpha < 0.01', ...) found "
        f"{len(ids)} run(s), a Polars frame with columns {', '.join(found.columns[-3:])}; "
        f"lg.get_run('{run_id[:8]}').artifact('model') is a fitted {type(model).__name__}."
    )


def _expect_recorded(ctx: DemoContext, tracked: Run) -> None:
    """The story: a FINISHED run holding its curve, its model, its chart and its note."""
    record = ctx.store.get_run(tracked.id)
    ctx.expect(record.status == "FINISHED", "tracking", "the training run FINISHED",
               f"it is {record.status}")
    points = len(ctx.store.metrics(tracked.id, "val_log_loss"))
    ctx.expect(points == EPOCHS, "tracking", f"{EPOCHS} points on the learning curve",
               f"{points} were recorded")
    names = {a.name for a in ctx.store.artifacts(tracked.id)}
    ctx.expect({"model", "learning_curve"} <= names, "tracking",
               "the model and the chart stored with the run", f"artifacts: {sorted(names)}")
    auc = ctx.store.last_metrics([tracked.id])[tracked.id].get("val_roc_auc", 0.0)
    ctx.expect(auc > 0.9, "tracking", "a useful model (val_roc_auc > 0.9)",
               f"val_roc_auc is {auc:.4f}")


def _train(ctx: DemoContext, data: list, *, alpha: float, name: str) -> Run:
    x_train, x_test, y_train, y_test = data
    params = {"model": "SGDClassifier", "loss": "log_loss", "alpha": alpha, "epochs": EPOCHS}
    with start_run(name, experiment="quickstart", params=params,
                   settings=ctx.settings) as tracked:
        scaler = StandardScaler().fit(x_train)
        model = SGDClassifier(loss="log_loss", alpha=alpha, random_state=0)
        classes = np.unique(y_train)
        curve = []
        for epoch in range(EPOCHS):
            model.partial_fit(scaler.transform(x_train), y_train, classes=classes)
            loss = log_loss(y_test, model.predict_proba(scaler.transform(x_test)))
            tracked.log_metric("val_log_loss", loss, step=epoch)
            curve.append(loss)
        pipeline = make_pipeline(scaler, model)
        auc = roc_auc_score(y_test, pipeline.predict_proba(x_test)[:, 1])
        tracked.log_metric("val_roc_auc", auc)
        tracked.log_value(pipeline, "model")
        figure = go.Figure(go.Scatter(y=curve, mode="lines", name="val_log_loss"))
        figure.update_layout(title="Validation log loss by epoch", xaxis_title="epoch")
        tracked.log_figure(figure, "learning_curve")
        tracked.note(f"alpha={alpha:g}: final val_log_loss {curve[-1]:.4f}")
        print(f"{name}, epoch {EPOCHS}: val_log_loss={curve[-1]:.4f} val_roc_auc={auc:.4f}")
    return tracked
