"""Quickstart section: modeling. A deliberately leaky feature is caught and kept out of the
reported score, a leaky notebook-style workflow is audited (claimed vs honest score), then
the honest model is trained on the validated churn table and evaluated against a dummy
baseline."""

from __future__ import annotations

import dataclasses

import polars as pl
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from lockgate.data import ColumnSpec, Contract
from lockgate.data.training_gate import read_for_training
from lockgate.demo.context import DemoContext, QuickstartError
from lockgate.modeling import TrainConfig, TrainResult, train, train_frame
from lockgate.modeling.metrics_table import metrics_table

LEAKY_COLUMN = "cancellation_fee"


def run(ctx: DemoContext) -> None:
    """Catch a target leak, then train and evaluate the honest model."""
    ctx.heading("Modeling: leakage checks, structure-aware splits, honest evaluation")
    table = ctx.results.get("data_table", "churn")
    contract = Contract.from_yaml(ctx.results["data_contract_path"])
    # a few thousand rows: one OpenMP thread is faster than many (and the machine may be shared)
    with threadpool_limits(limits=1, user_api="openmp"):
        leaky = _leaky_run(ctx, table, contract)
        _audit_notebook(ctx, table)
        honest = train(table, HistGradientBoostingClassifier(max_iter=60, random_state=0),
                       settings=ctx.settings, experiment="quickstart", name="churn-hgb",
                       param_grid={"max_depth": [3, None]},
                       config=TrainConfig(n_splits=3, inner_splits=2, slices=("plan",)))
    _show_evaluation(ctx, honest)
    ctx.results["modeling_leaky_run_id"] = leaky.run_id
    ctx.results["modeling_run_id"] = honest.run_id
    ctx.results["train_result"] = honest
    ctx.hint("The evaluation, findings and charts", f"lockgate runs show {honest.run_id}")
    ctx.hint("As JSON (findings under params.leakage_findings)",
             f"lockgate runs show {honest.run_id} --json")


def _leaky_run(ctx: DemoContext, table: str, contract: Contract) -> TrainResult:
    """Add a column only known after churn (a fee charged on cancellation) and train."""
    frame = read_for_training(table, settings=ctx.settings)
    frame = frame.with_columns(
        pl.when(pl.col("churned")).then(pl.col("monthly_charges") * 0.5).otherwise(0.0)
        .alias(LEAKY_COLUMN))
    leaky_contract = dataclasses.replace(
        contract, columns=(*contract.columns, ColumnSpec(LEAKY_COLUMN, "float")), _by_name={})
    result = train_frame(frame, leaky_contract, LogisticRegression(max_iter=500),
                         settings=ctx.settings, experiment="quickstart", name="churn-leaky",
                         config=TrainConfig(n_splits=3, charts=False, naive=(),
                                            bootstrap=50))
    blocking = [f for f in result.findings if f.severity == "blocking"]
    ctx.console.print(f"  With a `{LEAKY_COLUMN}` feature (charged only when a customer "
                      "cancels), the evaluation is "
                      f"[bold red]{'not ' if not result.evaluation.leak_free else ''}"
                      "leak-free[/]:")
    for finding in blocking:
        ctx.console.print(f"    [red]{finding.severity}[/] {finding.code}: {finding.message}")
    auc = result.evaluation.metrics["roc_auc"]
    excluded = result.findings and all(
        f.evidence.get("excluded") for f in blocking if f.code == "target_proxy")
    ctx.expect(any(f.code == "target_proxy" for f in blocking) and bool(excluded), "modeling",
               f"`{LEAKY_COLUMN}` flagged as a target proxy and kept out of the model",
               f"findings {[f.code for f in result.findings]}")
    ctx.console.print(f"    (blocking means blocked: the reported holdout ROC AUC {auc:.3f} is "
                      f"computed without `{LEAKY_COLUMN}`)")
    return result


def _audit_notebook(ctx: DemoContext, table: str) -> None:
    """A notebook-style workflow: a column known only after churn, churners oversampled
    before anything else, a grid search whose best CV score is reported. ``lg.audit``."""
    import numpy as np
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from lockgate.modeling import AuditConfig, LeakageConfig, audit

    frame = read_for_training(table, settings=ctx.settings).select(
        "age", "monthly_charges", "tenure_months", "last_event_at", "churned")
    frame = frame.with_columns(
        pl.col("churned").cast(pl.Int64),
        pl.when(pl.col("churned")).then(pl.col("monthly_charges") * 0.5).otherwise(0.0)
        .alias(LEAKY_COLUMN))
    churners = np.flatnonzero(frame["churned"].to_numpy() == 1)
    copies = np.random.default_rng(0).choice(churners, churners.size, replace=True)
    notebook = pl.concat([frame, frame[copies]])  # "balance the classes" before the split
    x = notebook.drop("churned", "last_event_at").to_pandas()
    search = GridSearchCV(
        make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=500)),
        {"logisticregression__C": [0.1, 1.0]}, cv=3, scoring="roc_auc",
    ).fit(x, notebook["churned"].to_numpy())
    report = audit(search, notebook, target="churned", time="last_event_at",
                   config=AuditConfig(n_splits=3, repeats=1, bootstrap=50,
                                      leakage=LeakageConfig(permutations=5, bootstrap=50)))
    honest = report.honest
    if honest is None:
        raise QuickstartError("modeling", "the audit's honest estimate", "no estimate")
    ctx.console.print(f"  Audit of a notebook workflow (lg.audit / `lockgate audit`): claimed "
                      f"ROC AUC [bold red]{report.claimed:.3f}[/] ({report.claimed_source}); "
                      f"honest [bold green]{honest.value:.3f}[/] [{honest.low:.3f}, "
                      f"{honest.high:.3f}] from {honest.rows} rows, {honest.protocol}.")
    for finding in report.findings:
        if finding.severity == "blocking":
            ctx.console.print(f"    [red]{finding.severity}[/] {finding.code}")
    codes = {f.code for f in report.findings}
    ctx.expect(report.verdict == "inflated" and {"tuned_search_best_score", "target_proxy",
                                                  "oversampled_before_split"} <= codes,
               "modeling", "the audit finds the search score, the proxy and the oversampling, "
               "and the claimed score above the honest one",
               f"verdict {report.verdict}, findings {sorted(codes)}")
    ctx.results["modeling_audit"] = report


def _show_evaluation(ctx: DemoContext, result: TrainResult) -> None:
    record = result.evaluation
    ctx.console.print(f"  Honest model, run [bold]{result.run_id}[/]: splitter "
                      f"[cyan]{record.splitter}[/] because {record.splitter_reason}.")
    ctx.console.print(f"  Tuned inside the cross-validation: best {result.best_params}; "
                      f"holdout of {len(result.plan.holdout)} rows at the end of time.")
    ctx.console.print(metrics_table(record, f"Holdout vs dummy baseline (leak-free: "
                                            f"{'yes' if record.leak_free else 'NO'})"))
    verdict = "beats" if record.beats_baseline else "does NOT beat"
    ctx.console.print(f"  The model {verdict} the baseline on {record.primary_metric} "
                      "(paired bootstrap).")
    naive = record.naive.get("random_split_preprocessed_all", {}).get("metrics", {})
    if naive:
        ctx.console.print(f"  A naive random split with preprocessing on all rows would have "
                          f"reported {record.primary_metric}="
                          f"{naive[record.primary_metric]:.4f} (honest: "
                          f"{record.metrics[record.primary_metric]:.4f}).")
    others = [f for f in result.findings if f.severity != "blocking"]
    for finding in others:
        ctx.console.print(f"    [yellow]{finding.severity}[/] {finding.code}: {finding.message}")
