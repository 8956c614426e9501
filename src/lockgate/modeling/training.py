"""Training: a tracked, leak-checked, honestly evaluated fit of a contract's table.

``train`` reads a validated dataset version through the training gate and hands it to
``train_frame``, which splits by structure, runs the leakage checks, cross-validates
(with the hyperparameter search nested inside), fits the final pipeline on the
development rows, evaluates it on the holdout against a dummy baseline and records all
of it on one run. ``evaluate_pair`` does the same for a train/test pair the user brings.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import polars as pl
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from lockgate.config import Settings, load_settings
from lockgate.data.finding import Finding, Severity
from lockgate.modeling.diagnostics import diagnostics
from lockgate.modeling.errors import TrainingError
from lockgate.modeling.evaluation import (
    PRIMARY,
    EvaluationRecord,
    Predictions,
    baseline_predictions,
    fit_baseline,
    point_metrics,
    problem_type_of,
    score,
    slice_metrics,
)
from lockgate.modeling.features import build_pipeline
from lockgate.modeling.leakage import (
    LeakageConfig,
    blocked_columns,
    check_leakage,
    is_leak_free,
    no_holdout,
)
from lockgate.modeling.naive import naive_scores
from lockgate.modeling.nested_cv import (
    FoldResult,
    FoldTask,
    SearchSpec,
    check_grid,
    fit_model,
    predictions_for,
    prefixed_grid,
    run_fold,
)
from lockgate.modeling.recipe import training_recipe
from lockgate.modeling.splitter import Split, SplitPlan, as_polars, make_folds, plan_split, row_keys
from lockgate.pipelines.executors.factory import EXECUTORS, make_executor
from lockgate.tracking import Run, progress, start_run
from lockgate.tracking.autolog import suspended as autolog_suspended
from lockgate.user_types import Estimator, FrameLike

if TYPE_CHECKING:  # the data stage is imported when a training runs, not at import

    from lockgate.data.contract import Contract, ContractInput

#: What a caller may pass as the contract: the record, a YAML path or its dict form.


#: Evaluation budgets: how thorough the estimate is, chosen explicitly, never silently.
#: Fewer folds and bootstrap replicates make the run faster and its uncertainty
#: estimates coarser; ``budget_note`` states the effect on the intervals.
BUDGETS: dict[str, dict[str, Any]] = {
    "quick": {"n_splits": 3, "inner_splits": 2, "bootstrap": 50, "importance_rows": 200},
    "standard": {"n_splits": 5, "inner_splits": 3, "bootstrap": 200, "importance_rows": 1000},
    "thorough": {"n_splits": 10, "inner_splits": 5, "bootstrap": 1000, "importance_rows": 5000},
}

#: Below this many rows a fit runs on one OpenMP thread. Native thread pools synchronise
#: at every tree split; on a small table that costs more than the work it shares, and far
#: more on a busy machine (HistGradientBoosting on 569 rows × 30 features: 0.75 s on one
#: thread, 24.6 s on two at load 11). Larger tables keep the libraries' own default.
SMALL_TABLE_ROWS = 20_000

#: What each timed phase of training is called in progress reports.
PHASES = {
    "split": "splitting", "leakage": "leakage checks", "fit_cv": "cross-validation",
    "fit_final": "final fit", "evaluate": "holdout evaluation (bootstrap)",
    "naive": "naive comparisons", "charts": "charts and permutation importance",
}


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """How to split, tune, evaluate and report. Defaults suit most tabular problems.

    ``features="contract"`` builds the preprocessing from the contract;
    ``"passthrough"`` hands the raw feature columns to the user's own pipeline.
    """

    problem_type: str | None = None
    strategy: str | None = None
    allow_iid: str | None = None
    n_splits: int = 5
    inner_splits: int = 3
    holdout: float = 0.2
    gap: int = 0
    n_iter: int | None = None
    categorical: str = "onehot"
    features: str = "contract"
    slices: tuple[str, ...] = ()
    executor: str = "local"
    naive: tuple[str, ...] = ("train_score", "random_split_preprocessed_all")
    bootstrap: int = 200
    #: below this many holdout rows the reported estimate is the nested CV one (mean of
    #: the outer folds over all development rows, with a t interval), not the holdout's
    min_holdout_rows: int = 100
    importance_rows: int = 1000
    charts: bool = True
    leakage: LeakageConfig = field(default_factory=LeakageConfig)
    seed: int = 0
    budget: str = "standard"
    #: native (OpenMP/BLAS) threads per fit; ``None``: one below ``SMALL_TABLE_ROWS``
    #: rows, the libraries' default above. Changes the speed, never the result.
    threads: int | None = None

    @classmethod
    def for_budget(cls, budget: str, **options: object) -> TrainConfig:
        """A config with the folds, bootstrap replicates and importance rows of
        ``budget`` (quick / standard / thorough); ``options`` override any of them."""
        if budget not in BUDGETS:
            raise TrainingError(f"budget={budget!r}: choose one of {', '.join(BUDGETS)}.")
        return cls(**(BUDGETS[budget] | {"budget": budget} | options))

    def __post_init__(self) -> None:
        """Refuse options no training could use, before any run is started."""
        if self.budget not in BUDGETS:
            raise TrainingError(f"budget={self.budget!r}: choose one of {', '.join(BUDGETS)}.")
        if self.executor not in EXECUTORS:
            raise TrainingError(f"executor={self.executor!r}: choose one of {sorted(EXECUTORS)}.")
        if self.features not in ("contract", "passthrough"):
            raise TrainingError(f"features={self.features!r}: choose 'contract' or "
                                "'passthrough'.")
        if self.inner_splits < 2:
            raise TrainingError(f"inner_splits={self.inner_splits}: the nested search needs "
                                "at least 2 inner folds.")
        if self.threads is not None and self.threads < 1:
            raise TrainingError(f"threads={self.threads}: give at least 1, or None to let "
                                "lockgate choose by table size.")
        if self.bootstrap < 1:
            raise TrainingError(f"bootstrap={self.bootstrap}: the confidence intervals and "
                                "the baseline comparison need at least 1 replicate (200 is "
                                "the default).")


@dataclass(frozen=True, slots=True)
class TrainResult:
    """What a training run produced; ``pipeline`` predicts on Polars or pandas frames."""

    run_id: str
    pipeline: Pipeline
    evaluation: EvaluationRecord
    model_artifact_id: int
    plan: SplitPlan
    folds: tuple[FoldResult, ...] = ()
    best_params: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def findings(self) -> list[Finding]:
        return [Finding.from_dict(f) for f in self.evaluation.findings]

    def __repr__(self) -> str:
        return f"TrainResult(run {self.run_id})\n{self.evaluation!r}"

    def _repr_html_(self) -> str:
        from lockgate.modeling.display import evaluation_html

        return evaluation_html(self.evaluation, title=f"Training run {self.run_id}")


@dataclass(slots=True)
class _Job:
    """Everything one training needs, resolved once."""

    df: pl.DataFrame
    contract: Contract
    estimator: Any
    target: str
    problem_type: str
    features: list[str]
    x: pd.DataFrame
    y: np.ndarray
    pipeline: Pipeline
    spec: SearchSpec
    config: TrainConfig
    dataset: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    structure_note: str | None = None


def train(table: str, estimator: Estimator, *, version: int | None = None,
          contract: ContractInput | None = None,
          settings: Settings | None = None, experiment: str = "default",
          param_grid: Mapping[str, Sequence[object]] | None = None,
          config: TrainConfig | None = None, allow_unvalidated: str | None = None,
          name: str | None = None) -> TrainResult:
    """Train on a validated version of ``table`` and evaluate honestly.

    Args:
        table: the table name (ingested with ``lockgate.data.ingest``).
        estimator: any scikit-learn compatible estimator (LightGBM and XGBoost through
            their scikit-learn API too); cloned, never fitted in place.
        version: the dataset version (default the newest).
        contract: the contract (default the one the version was landed under).
        settings: explicit settings.
        experiment: experiment of the training run.
        param_grid: hyperparameters to tune, keyed by the estimator's own names; the
            search is nested inside the cross-validation.
        config: split, evaluation and reporting options.
        allow_unvalidated: reason to train on a version that failed validation
            (recorded on the run by the training gate).
        name: run name (default ``train-<table>``).

    Raises:
        UnvalidatedDataError: the version did not pass validation (from the gate).
        SplitError: an iid split of structured data, too little data.
        TrainingError: no target, bad options.
    """
    from lockgate.data import contract_for
    from lockgate.store import Store

    settings = settings or load_settings()
    store = Store.open(settings)
    found = store.dataset_version(table, version)
    contract = contract if contract is not None else contract_for(
        table, found.version, settings=settings)
    dataset = {"table": table, "version": found.version, "dataset_version_id": found.id}
    recipe = training_recipe(table=table, version=found.version, estimator=estimator,
                             param_grid=param_grid, config=config,
                             allow_unvalidated=allow_unvalidated, experiment=experiment,
                             name=name or f"train-{table}")
    return _train_with_run(
        lambda run: _read_validated(table, found.version, allow_unvalidated, run, settings,
                                   _contract(contract).target),
        contract, estimator, settings=settings, experiment=experiment, param_grid=param_grid,
        config=config, dataset=dataset, name=name or f"train-{table}", recipe=recipe,
    )


def train_frame(frame: FrameLike, contract: ContractInput, estimator: Estimator, *,
                settings: Settings | None = None, experiment: str = "default",
                param_grid: Mapping[str, Sequence[object]] | None = None,
                config: TrainConfig | None = None, name: str | None = None,
                dataset: Mapping[str, Any] | None = None) -> TrainResult:
    """Like :func:`train` on an in-memory Polars or pandas frame (no training gate:
    use it for data that did not come through lockgate's ingestion)."""
    contract = _contract(contract)
    settings = settings or load_settings()
    dataset = dict(dataset or {"table": contract.table, "version": None,
                               "dataset_version_id": None})
    return _train_with_run(lambda run: as_polars(frame), contract, estimator,
                           settings=settings, experiment=experiment, param_grid=param_grid,
                           config=config, dataset=dataset, name=name or f"train-{contract.table}")


def evaluate_pair(train_rows: FrameLike, test_rows: FrameLike | None,
                  contract: ContractInput, estimator: Estimator, *,
                  settings: Settings | None = None, experiment: str = "default",
                  param_grid: Mapping[str, Sequence[object]] | None = None,
                  config: TrainConfig | None = None, name: str | None = None) -> TrainResult:
    """Evaluate on a train/test pair the user brings, honestly.

    The leakage checks run on the pair. When none is blocking, the user's test rows are
    the holdout. Otherwise (or with no test rows at all) the rows are pooled and split
    by structure; the user's own score is reported in ``evaluation.naive["user_pair"]``
    with the findings that make it dishonest.
    """
    contract = _contract(contract)
    settings = settings or load_settings()
    config = config or TrainConfig()
    train_df = as_polars(train_rows)
    test_df = as_polars(test_rows) if test_rows is not None else None
    dataset = {"table": contract.table, "version": None, "dataset_version_id": None}
    target = _target(contract, train_df)
    problem = config.problem_type or _problem(train_df, contract, target)
    if test_df is None:
        pair_findings = [_no_holdout_finding()]
    else:
        pair_findings = check_leakage(train_df, test_df, contract, problem_type=problem,
                                      estimator=estimator, config=config.leakage)
    pooled = train_df if test_df is None else pl.concat([train_df, test_df],
                                                       how="vertical_relaxed")
    given = None
    if test_df is not None and is_leak_free(pair_findings):
        given = (np.arange(train_df.height), np.arange(train_df.height, pooled.height))
    user = {"protocol": "user_pair", "findings": [f.to_dict() for f in pair_findings],
            "leak_free": is_leak_free(pair_findings), "used_as_holdout": given is not None}
    return _train_with_run(lambda run: pooled, contract, estimator, settings=settings,
                           experiment=experiment, param_grid=param_grid, config=config,
                           dataset=dataset, name=name or f"evaluate-{contract.table}",
                           given=given, user_pair=user, user_test=test_df)


def _train_with_run(load: Callable[[Run], pl.DataFrame], contract: ContractInput,
                    estimator: Any, *,
                    settings: Settings, experiment: str,
                    param_grid: Mapping[str, Sequence[object]] | None,
                    config: TrainConfig | None, dataset: dict[str, Any], name: str,
                    given: tuple | None = None,
                    user_pair: dict[str, Any] | None = None,
                    user_test: pl.DataFrame | None = None,
                    recipe: dict[str, Any] | None = None) -> TrainResult:
    config = config or TrainConfig()
    params = {"estimator": type(estimator).__name__, "dataset": dataset}
    if recipe is not None:  # what `lockgate reproduce` re-executes
        params["recipe"] = recipe
    with start_run(name, experiment=experiment, settings=settings, params=params) as run, \
            autolog_suspended():  # this run records its own fits
        job = _job(load(run), contract, estimator, param_grid, config, dataset)
        _log_setup(run, job)
        _timed(job, "split", lambda: _group_near_duplicates(run, job, given))
        plan = _timed(job, "split", lambda: _plan(job, given))
        with threadpool_limits(limits=_threads(config, job.df.height)):
            result = _fit_and_evaluate(run, job, plan, user_pair, user_test)
    return result


def _threads(config: TrainConfig, rows: int) -> int | None:
    """Native threads per fit (``None``: the libraries' default)."""
    if config.threads is not None:
        return config.threads
    return 1 if rows < SMALL_TABLE_ROWS else None


def _job(df: pl.DataFrame, contract: ContractInput, estimator: Any,
         param_grid: Mapping[str, Sequence[object]] | None, config: TrainConfig,
         dataset: dict[str, Any]) -> _Job:
    contract = _contract(contract)
    target = _target(contract, df)
    unlabeled = df[target].null_count()
    if unlabeled == df.height:
        raise TrainingError(f"Every row has an empty target `{target}`; nothing to learn from.")
    if unlabeled:
        df = df.filter(pl.col(target).is_not_null())
    problem = config.problem_type or _problem(df, contract, target)
    late = {c.name for c in contract.columns
            if getattr(c, "available", "at_prediction") != "at_prediction"}
    present = set(df.columns)
    features = [c for c in contract.feature_columns if c in present and c not in late]
    missing = [c for c in contract.feature_columns if c not in df.columns]
    if missing:
        raise TrainingError(f"Feature columns {missing} of contract `{contract.table}` are not "
                            "in the data; re-ingest the table or fix the contract.")
    if config.features == "contract":
        pipeline = build_pipeline(contract, estimator, categorical=config.categorical,
                                  features=features)
    else:
        pipeline = Pipeline([("model", _clone(estimator))])
    grid = prefixed_grid(param_grid)
    check_grid(pipeline, grid)
    spec = SearchSpec(param_grid, config.n_iter, PRIMARY[problem], config.seed)
    y = df[target].cast(pl.Float64).to_numpy() if problem == "regression" else df[target].to_numpy()
    job = _Job(df, contract, estimator, target, problem, features,
               df.select(features).to_pandas(), y, pipeline, spec, config, dataset)
    job.dataset["rows_without_target"] = unlabeled
    return job


def _fit_and_evaluate(run: Run, job: _Job, plan: SplitPlan, user_pair: dict[str, Any] | None,
                      user_test: pl.DataFrame | None) -> TrainResult:
    config, df = job.config, job.df
    run.log_dict(plan.to_dict(), "split_plan")
    # the two sides as frames, gathered once for the leakage checks and the evaluation
    dev_df, held_df = _timed(job, "split", lambda: (df[plan.development], df[plan.holdout]))
    findings = _timed(job, "leakage", lambda: check_leakage(
        dev_df, held_df, job.contract, problem_type=job.problem_type,
        target=job.target, estimator=job.estimator, strategy=plan.strategy,
        config=config.leakage))
    findings = _exclude_blocked(run, job, findings)
    if job.structure_note:
        findings.append(Finding("near_duplicate_rows", Severity.WARNING, job.structure_note,
                                {"grouped_by": CLUSTER}))
    folds = _timed(job, "fit_cv", lambda: _cross_validate(run, job, plan))
    dev_folds = _relative(plan.folds, plan.development)
    model, best = _timed(job, "fit_final", lambda: fit_model(
        job.pipeline, job.x.iloc[plan.development], job.y[plan.development], dev_folds,
        job.problem_type, job.spec))
    record, pred = _timed(job, "evaluate", lambda: _evaluate(
        job, plan, model, findings, folds, dev_df.select(job.target), held_df))
    naive = _timed(job, "naive", lambda: naive_scores(
        config.naive, model=model, pipeline=job.pipeline, x=job.x, y=job.y,
        dev=plan.development, problem_type=job.problem_type, n_splits=config.n_splits,
        seed=config.seed))
    if user_pair is not None:
        naive["user_pair"] = _user_pair_score(job, user_pair, user_test)
    record = _with_naive(record, naive)
    importance = _timed(job, "charts", lambda: diagnostics(run, job, model, pred, plan))
    record = replace(record, feature_importance=importance)
    model_ref = run.log_value(model, "model")
    run.log_dict(record.to_dict(), "evaluation")
    _log_outcome(run, record, folds, best, job.timings)
    return TrainResult(run_id=run.id, pipeline=model, evaluation=record,
                       model_artifact_id=model_ref.id, plan=plan, folds=tuple(folds),
                       best_params=best, timings=dict(job.timings))


def _exclude_blocked(run: Run, job: _Job, findings: list[Finding]) -> list[Finding]:
    """Blocking means blocked: features a blocking finding names (a target proxy, a
    column known only after the outcome) are taken out of the model before anything is
    fit, so no reported score (CV, holdout, naive) includes them."""
    named = blocked_columns(findings)
    blocked = [c for c in named if c in job.features]
    if not blocked:
        return [replace(f, evidence=f.evidence | {"excluded": True})
                if f.evidence.get("column") in named else f for f in findings]
    kept = [f for f in job.features if f not in blocked]
    if not kept:
        raise TrainingError(f"Every feature is blocked by a leakage finding ({blocked}); no "
                            "honest model can be trained. Fix the contract or the data.")
    job.features = kept
    if job.config.features == "contract":
        job.pipeline = build_pipeline(job.contract, job.estimator,
                                      categorical=job.config.categorical, features=kept)
    else:
        job.x = job.x[kept]
    check_grid(job.pipeline, prefixed_grid(job.spec.param_grid))
    run.note(f"Excluded from the model by blocking leakage findings: {blocked}.")
    run.log_params({"excluded_features": blocked})
    return [replace(f, evidence=f.evidence | {"excluded": True})
            if f.evidence.get("column") in blocked else f for f in findings]


def _cross_validate(run: Run, job: _Job, plan: SplitPlan) -> list[FoldResult]:
    tasks = [FoldTask(f.name, f.train, f.test, _inner(job, plan, f)) for f in plan.folds]
    # The same executors as pipeline steps: folds in this process, or Ray tasks.
    executor = make_executor(job.config.executor, start=False)
    trials = _trials(job)
    unit = f"folds × {trials} inner trials" if trials > 1 else "folds"
    try:
        with progress.task("cross-validation folds", total=len(tasks), unit=unit) as bar:
            results = executor.map(
                run_fold, tasks,
                shared=(job.pipeline, job.x, job.y, job.problem_type, job.spec),
                progress=lambda _result: bar.advance())
    finally:
        executor.close()
    for step, result in enumerate(results):
        run.log_metrics({f"cv_{k}": v for k, v in result.metrics.items()}, step=step)
        run.log_metric("cv_fit_seconds", result.fit_seconds, step=step)
    return results


def _inner(job: _Job, plan: SplitPlan, fold: Split) -> tuple:
    if not job.spec.param_grid:
        return ()
    y = job.y if job.problem_type != "regression" else None
    inner = make_folds(job.df, fold.train, strategy=plan.strategy, column=plan.column, y=y,
                       n_splits=job.config.inner_splits, gap=plan.gap, seed=plan.seed)
    return tuple(_relative(inner, fold.train))


def _relative(folds: Sequence[Split], rows: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Fold positions re-expressed as positions within ``rows``."""
    position = np.full(int(rows.max()) + 1, -1, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    return [(position[f.train], position[f.test]) for f in folds]


def _evaluate(job: _Job, plan: SplitPlan, model: Any, findings: list[Finding],
              folds: list[FoldResult], dev_df: pl.DataFrame,
              held_df: pl.DataFrame) -> tuple[EvaluationRecord, Predictions]:
    holdout = plan.holdout
    pred = predictions_for(model, job.x.iloc[holdout], job.y[holdout], job.problem_type)
    baseline = fit_baseline(dev_df, job.target, job.problem_type)
    base = baseline_predictions(baseline, held_df, job.target, job.problem_type)
    scores = score(pred, base, replicates=job.config.bootstrap, seed=job.config.seed)
    findings = list(findings)
    if not scores.beats_baseline:
        findings.append(Finding(
            "does_not_beat_baseline", Severity.WARNING,
            f"The model's {scores.primary} ({scores.metrics[scores.primary]:.4f}) is not "
            f"reliably better than the dummy baseline's ({scores.baseline[scores.primary]:.4f})"
            " on the holdout (paired bootstrap, 95%).",
            {"metric": scores.primary, "model": scores.metrics[scores.primary],
             "baseline": scores.baseline[scores.primary]},
        ))
    metrics, intervals = scores.metrics, scores.intervals
    if len(holdout) < job.config.min_holdout_rows and len(folds) >= 2:
        metrics, intervals = _cv_estimate(folds)
        findings.append(Finding(
            "small_holdout", Severity.INFO,
            f"The holdout has {len(holdout)} rows, too few for a stable score (its "
            f"{scores.primary} {scores.metrics[scores.primary]:.3f}, 95% interval "
            f"{_fmt(scores.intervals.get(scores.primary))}). The reported estimate is the "
            f"nested cross-validation over {len(plan.development)} development rows "
            f"({len(folds)} outer folds): {metrics[scores.primary]:.3f} "
            f"{_fmt(intervals.get(scores.primary))}.",
            {"holdout_rows": len(holdout), "development_rows": len(plan.development),
             "folds": len(folds), "holdout_metrics": scores.metrics}))
    slices = (slice_metrics(pred, held_df, job.config.slices)
              if job.config.slices else {})
    keys = [k for k in job.contract.primary_key if k in job.df.columns]
    key_name = keys[0] if len(keys) == 1 else ("+".join(keys) if keys else "__row__")
    ids = (job.df[keys[0]][holdout].to_list() if len(keys) == 1
           else row_keys(job.df, job.contract).gather(holdout).to_list() if keys
           else holdout.tolist())
    record = EvaluationRecord(
        problem_type=job.problem_type, primary_metric=scores.primary,
        greater_is_better=scores.greater_is_better, metrics=metrics,
        intervals=intervals, baseline_metrics=scores.baseline,
        beats_baseline=scores.beats_baseline,
        cv_metrics={k: [f.metrics[k] for f in folds] for k in (folds[0].metrics if folds else {})},
        findings=[f.to_dict() for f in findings], leak_free=is_leak_free(findings),
        splitter=plan.strategy, splitter_reason=plan.reason, dataset=dict(job.dataset),
        holdout={"key": key_name, "ids": [_plain(v) for v in ids]}, slices=slices,
    )
    return record, pred


def _cv_estimate(folds: list[FoldResult]) -> tuple[dict[str, float], dict[str, tuple]]:
    """Mean of the outer-fold metrics with a Student t 95% interval."""
    from scipy import stats

    metrics, intervals = {}, {}
    for key in folds[0].metrics:
        values = np.asarray([f.metrics[key] for f in folds], dtype=np.float64)
        values = values[~np.isnan(values)]
        if values.size == 0:
            continue
        mean = float(values.mean())
        half = (float(stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1)
                      / np.sqrt(values.size)) if values.size > 1 else float("nan"))
        metrics[key], intervals[key] = mean, (mean - half, mean + half)
    return metrics, intervals


def _fmt(interval: tuple | None) -> str:
    return "[n/a]" if not interval else f"[{interval[0]:.3f}, {interval[1]:.3f}]"


def _user_pair_score(job: _Job, user_pair: dict[str, Any],
                     user_test: pl.DataFrame | None) -> dict[str, Any]:
    out = dict(user_pair)
    if user_test is None or user_pair["used_as_holdout"]:
        return out
    n_train = job.df.height - user_test.height
    rows = np.arange(n_train)
    test = np.arange(n_train, job.df.height)
    model = _clone(job.pipeline).fit(job.x.iloc[rows], job.y[rows])
    out["metrics"] = point_metrics(predictions_for(model, job.x.iloc[test], job.y[test],
                                                   job.problem_type))
    return out


def _with_naive(record: EvaluationRecord, naive: dict[str, Any]) -> EvaluationRecord:
    return replace(record, naive=naive)


CLUSTER = "__near_duplicate_cluster__"


def _group_near_duplicates(run: Run, job: _Job, given: tuple | None) -> None:
    """Rows with no declared structure that are near-copies of each other (repeated
    measurements with no id, oversampled copies) become groups: the splitter keeps each
    cluster on one side of every fold and of the holdout."""
    contract, config = job.contract, job.config
    if (given is not None or contract.entity or contract.event_time
            or config.strategy is not None or config.allow_iid):
        return
    floats = [f for f in job.features if job.df.schema[f].is_float()]
    if len(floats) < 2:
        return
    from lockgate.data import ColumnSpec
    from lockgate.modeling.near_duplicates import near_duplicates

    x = job.df.select(floats).to_numpy().astype(np.float64)
    found = near_duplicates(x)
    if found is None or not found.significant:
        return
    job.df = job.df.with_columns(pl.Series(CLUSTER, found.groups.astype(str)))
    job.contract = replace(contract, entity=CLUSTER, _by_name={},
                           columns=(*contract.columns, ColumnSpec(CLUSTER, "string")))
    job.structure_note = (
        f"{found.flagged} of {found.rows} rows are near-copies of another row (expected "
        f"{found.expected:.1f} by chance, p={found.p_value:.1e}): repeated measurements or "
        f"copies with no id. Their {found.clusters} clusters are kept on one side of every "
        "split; declare the entity in the contract.")
    run.note(job.structure_note)


def _plan(job: _Job, given: tuple | None) -> SplitPlan:
    config = job.config
    classification = job.problem_type != "regression"
    if given is None:
        return plan_split(job.df, job.contract, target=job.target, classification=classification,
                          strategy=config.strategy, n_splits=config.n_splits,
                          holdout=config.holdout, gap=config.gap, seed=config.seed,
                          allow_iid=config.allow_iid)
    dev, held = given
    structure = plan_split(job.df[dev], job.contract, target=job.target,
                           classification=classification, strategy=config.strategy,
                           n_splits=config.n_splits, holdout=config.holdout, gap=config.gap,
                           seed=config.seed, allow_iid=config.allow_iid)
    y = job.y if classification else None
    folds = make_folds(job.df, dev, strategy=structure.strategy, column=structure.column, y=y,
                       n_splits=config.n_splits, gap=config.gap, seed=config.seed)
    return SplitPlan("given", "the user's own test rows are the holdout (no blocking leakage "
                     f"finding on the pair); folds: {structure.reason}", structure.column, dev,
                     held, folds, config.n_splits, config.gap, config.seed, structure.override,
                     structure.hints)


def _log_setup(run: Run, job: _Job) -> None:
    config = job.config
    run.log_params({
        "problem_type": job.problem_type, "target": job.target, "features": job.features,
        "rows": job.df.height, "rows_without_target": job.dataset.get("rows_without_target", 0),
        "estimator_params": _json_params(job.estimator),
        "param_grid": {k: [_plain(v) for v in vs] for k, vs in (job.spec.param_grid or {}).items()
                       if not hasattr(vs, "rvs")},
        "config": {"strategy": config.strategy, "allow_iid": config.allow_iid,
                   "n_splits": config.n_splits, "inner_splits": config.inner_splits,
                   "holdout": config.holdout, "gap": config.gap, "executor": config.executor,
                   "features": config.features, "categorical": config.categorical,
                   "seed": config.seed, "budget": config.budget,
                   "bootstrap": config.bootstrap,
                   "threads": _threads(config, job.df.height)},
    })
    if job.dataset.get("rows_without_target"):
        run.note(f"{job.dataset['rows_without_target']} rows with an empty target "
                 f"`{job.target}` were left out of training and evaluation.")


def _log_outcome(run: Run, record: EvaluationRecord, folds: list[FoldResult],
                 best: dict[str, Any], timings: dict[str, float]) -> None:
    run.log_metrics(record.metrics)
    run.log_metrics({f"baseline_{k}": v for k, v in record.baseline_metrics.items()})
    for key, (lo, hi) in record.intervals.items():
        run.log_metrics({f"{key}_ci_low": lo, f"{key}_ci_high": hi})
    run.log_metrics({f"time_{k}_s": v for k, v in timings.items()})
    run.log_params({
        "splitter": record.splitter, "splitter_reason": record.splitter_reason,
        "split_override": _override(record), "best_params": best,
        "leak_free": record.leak_free, "leakage_findings": record.findings,
        "beats_baseline": record.beats_baseline,
        "naive_scores": {k: v.get("metrics") for k, v in record.naive.items()},
    })
    run.log_dict({"leak_free": record.leak_free, "findings": record.findings}, "findings")
    run.set_tags({"leak_free": str(record.leak_free).lower(),
                  "beats_baseline": str(record.beats_baseline).lower()})
    if record.slices:
        run.log_dict(record.slices, "slices")


def _override(record: EvaluationRecord) -> str | None:
    return record.splitter_reason if "override" in record.splitter_reason else None


def _trials(job: _Job) -> int:
    grid = job.spec.param_grid or {}
    if not grid:
        return 1
    if job.spec.n_iter or any(hasattr(v, "rvs") for v in grid.values()):
        return int(job.spec.n_iter or 1)
    return int(np.prod([len(v) for v in grid.values()]))


def _timed(job: _Job, phase: str, work: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    try:
        with progress.task(PHASES.get(phase, phase)):
            return work()
    finally:
        job.timings[phase] = job.timings.get(phase, 0.0) + time.perf_counter() - started


def _read_validated(table: str, version: int, allow_unvalidated: str | None, run: Run,
                    settings: Settings, target: str | None) -> pl.DataFrame:
    from lockgate.data.training_gate import read_for_training

    return read_for_training(table, version, allow_unvalidated=allow_unvalidated, run=run,
                             settings=settings, target=target)  # records the lineage edge itself


def _contract(contract: ContractInput) -> Contract:
    from lockgate.data import load_contract

    return load_contract(contract)


def _target(contract: Contract, df: pl.DataFrame) -> str:
    if not contract.target:
        raise TrainingError(
            f"Contract `{contract.table}` declares no target; add `target: <column>` to it."
        )
    if contract.target not in df.columns:
        raise TrainingError(f"Target `{contract.target}` is not a column of the data; columns "
                            f"are {df.columns}.")
    return contract.target


def _problem(df: pl.DataFrame, contract: Contract, target: str) -> str:
    spec = next((c for c in contract.columns if c.name == target), None)
    return problem_type_of(df[target].drop_nulls(), spec.type if spec else None)


def _no_holdout_finding() -> Finding:
    return no_holdout("user's (no test set)")


def _clone(estimator: Any) -> Any:
    return clone(estimator)


def _json_params(estimator: Any) -> dict[str, Any]:
    try:
        params = estimator.get_params(deep=False)
    except Exception:
        return {}
    return {k: _plain(v) for k, v in params.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, str | int | float | bool | type(None)):
        return value
    return repr(value)
