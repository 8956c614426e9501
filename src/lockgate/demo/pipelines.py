"""Quickstart section: the work as a pipeline of plain steps, run twice; the second run
shows every step cached.

``quickstart_pipeline`` is importable, so the same pipeline also runs from the CLI:
``lockgate run lockgate.demo.pipelines:quickstart_pipeline --set grid.alphas=[0.001]``.
"""

from __future__ import annotations

import polars as pl
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline as SkPipeline
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from lockgate.demo.context import DemoContext
from lockgate.pipelines import Pipeline, node, run_pipeline, step
from lockgate.pipelines.report import pipeline_tree

TARGET = "target"


@step
def load() -> pl.DataFrame:
    """The breast-cancer data shipped with scikit-learn, as one frame with a target."""
    data = load_breast_cancer(as_frame=True)
    frame = pl.from_pandas(data.frame)
    return frame.rename({c: c.replace(" ", "_") for c in frame.columns})


@step
def split(frame: pl.DataFrame, test_size: float = 0.25, seed: int = 0
          ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A stratified holdout split, reproducible from the seed."""
    shuffled = frame.with_row_index("_row").sample(fraction=1.0, shuffle=True, seed=seed)
    parts = []
    for _, group in shuffled.group_by(TARGET, maintain_order=True):
        cut = round(group.height * test_size)
        parts.append((group.slice(cut), group.slice(0, cut)))
    train = pl.concat([p[0] for p in parts]).sort("_row").drop("_row")
    test = pl.concat([p[1] for p in parts]).sort("_row").drop("_row")
    return train, test


@step
def grid(alphas: list = [1e-4, 1e-3, 1e-2]) -> list:  # noqa: B006 - a JSON default, never mutated
    """The hyperparameter values to try: the fan-out's items."""
    return [float(a) for a in alphas]


@step
def fit(train: pl.DataFrame, alpha: float, seed: int = 0) -> SkPipeline:
    """One model per alpha: scaling and a logistic SGD classifier, fit on train only."""
    features = train.drop(TARGET).to_numpy()
    model = make_pipeline(StandardScaler(), SGDClassifier(loss="log_loss", alpha=alpha,
                                                          random_state=seed, max_iter=2000))
    return model.fit(features, train[TARGET].to_numpy())


@step
def evaluate(models: list[SkPipeline], alphas: list, test: pl.DataFrame) -> dict:
    """Gather: the holdout ROC AUC of every model and the best alpha."""
    features, truth = test.drop(TARGET).to_numpy(), test[TARGET].to_numpy()
    scores = [float(roc_auc_score(truth, m.predict_proba(features)[:, 1])) for m in models]
    best = max(range(len(scores)), key=scores.__getitem__)
    print("holdout roc_auc by alpha: "
          + ", ".join(f"{a:g}={s:.4f}" for a, s in zip(alphas, scores, strict=True)))
    return {"roc_auc": dict(zip(map(str, alphas), scores, strict=True)),
            "best_alpha": alphas[best], "best_roc_auc": scores[best], "best_index": best}


@step
def select(models: list[SkPipeline], report: dict) -> SkPipeline:
    """The model with the best holdout score."""
    return models[int(report["best_index"])]


quickstart_pipeline = Pipeline("quickstart", [
    node(load, outputs="raw"),
    node(split, inputs="raw", outputs=["train", "test"]),
    node(grid, outputs="alphas"),
    node(fit, inputs={"train": "train", "alpha": "alphas"}, outputs="models", map_over="alpha"),
    node(evaluate, inputs=["models", "alphas", "test"], outputs="report"),
    node(select, inputs=["models", "report"], outputs="model"),
])


def run(ctx: DemoContext) -> None:
    """Run the quickstart pipeline twice and show both step trees."""
    from lockgate.cli.pipelines import render_tree
    from lockgate.pipelines.cache_explanation import explain_cache

    ctx.heading("Pipelines: steps, fan-out, caching")
    first = run_pipeline(quickstart_pipeline, settings=ctx.settings, experiment="quickstart",
                         ref="lockgate.demo.pipelines:quickstart_pipeline")
    render_tree(pipeline_tree(ctx.store, first.run_id), out=ctx.console)
    report = first.load("report", ctx.settings)
    ctx.console.print(f"  best alpha {report['best_alpha']:g}: holdout roc_auc "
                      f"{report['best_roc_auc']:.4f}")
    second = run_pipeline(quickstart_pipeline, settings=ctx.settings, experiment="quickstart",
                          ref="lockgate.demo.pipelines:quickstart_pipeline")
    render_tree(pipeline_tree(ctx.store, second.run_id), out=ctx.console)
    cached = sum(s.status == "CACHED" for s in second.steps)
    ctx.expect(first.ok and len(first.steps) == 8, "pipelines",
               "the first run to finish all 8 step runs (3 fits fanned out)",
               f"it ended {first.status} with {first.statuses()}")
    ctx.expect(second.ok and cached == len(second.steps), "pipelines",
               "every step of the unchanged second run cached",
               f"statuses {second.statuses()}")
    ctx.expect(report["best_roc_auc"] > 0.9, "pipelines", "a useful best model (roc_auc > 0.9)",
               f"best roc_auc {report['best_roc_auc']:.4f}")
    ctx.console.print(f"  Second run: {cached} of {len(second.steps)} step runs cached in "
                      f"{second.duration:.2f} s (first run {first.duration:.2f} s).")
    why = explain_cache(ctx.store, second.run_id, "fit[0]")
    libraries = ", ".join(f"{k} {v}" for k, v in sorted((why.parts or {}).get(
        "libraries", {}).items()))
    ctx.expect(why.hit, "pipelines", "fit[0] of the second run a cache hit", why.reason)
    ctx.console.print(f"  Why fit[0] was cached: {why.reason}; its key covers code, params, "
                      f"inputs and the libraries it uses ({libraries}).")
    ctx.results.update(pipeline_run_id=first.run_id, pipeline_cached_run_id=second.run_id,
                       pipeline_model_artifact_id=_artifact_id(first.outputs["model"]))
    ctx.hint("Step tree", f"lockgate pipelines show {first.run_id}")
    ctx.hint("Lineage of the model", f"lockgate lineage {first.run_id}")
    ctx.hint("Why a step hit or missed", f"lockgate pipelines explain-cache {second.run_id} "
             "fit[0]")
    ctx.hint("Run it from the CLI",
             "lockgate run lockgate.demo.pipelines:quickstart_pipeline --set fit.seed=1")


def _artifact_id(ref: object) -> int | None:
    return getattr(ref, "id", None)
