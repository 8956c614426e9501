"""``lockgate train``: train and honestly evaluate a model on a validated table."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from lockgate.cli.app import console, print_json, settings
from lockgate.modeling.estimator_spec import load_estimator, parse_assignments
from lockgate.modeling.metrics_table import budget_note, metrics_table
from lockgate.modeling.training import TrainConfig, train
from lockgate.tracking.progress import rich_progress

if TYPE_CHECKING:
    from lockgate.data.contract import Contract


def _contract(path: str | None) -> Contract | None:
    if path is None:
        return None
    from lockgate.data.contract import load_contract

    return load_contract(path)


def train_command(
    table: str = typer.Argument(..., help="Table to train on (target from its contract)."),
    estimator: str = typer.Option("hgb-classifier", "--estimator", "-m",
                                  help="Short name (hgb-classifier, logistic, ...) or dotted "
                                       "class path."),
    version: int | None = typer.Option(None, "--version", "-v", help="Dataset version."),
    contract: str | None = typer.Option(None, "--contract", "-c", help="Contract YAML to "
                                        "train under (default: the one the version was "
                                        "landed under)."),
    param: list[str] = typer.Option([], "--set", help="Estimator parameter key=value."),
    grid: list[str] = typer.Option([], "--grid", help="Tune key=v1,v2 (nested in the CV)."),
    experiment: str = typer.Option("default", "--experiment", "-e"),
    strategy: str | None = typer.Option(None, "--strategy", help="time, group or iid."),
    allow_iid: str | None = typer.Option(None, "--allow-iid", help="Why an iid split is fine "
                                         "despite structure (recorded)."),
    allow_unvalidated: str | None = typer.Option(None, "--allow-unvalidated",
                                                 help="Why training on a failed version is "
                                                      "fine (recorded)."),
    slices: list[str] = typer.Option([], "--slice", help="Column for per-slice metrics."),
    executor: str = typer.Option("local", "--executor", help="local or ray."),
    budget: str = typer.Option("standard", "--budget", "-b",
                               help="Evaluation budget: quick (3 folds, 50 bootstrap "
                                    "replicates: faster, coarser spread and intervals), "
                                    "standard (5, 200) or thorough (10, 1000); what it gives "
                                    "up and its effect on the intervals are printed. The "
                                    "leakage checks and holdout are the same at every "
                                    "budget."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars (they are "
                               "also off when stderr is not a terminal)."),
    as_json: bool = typer.Option(False, "--json", help="Print the evaluation record as JSON."),
) -> None:
    """Train on a validated table version; print the honest evaluation and findings."""
    model = load_estimator(estimator, parse_assignments(param))
    config = TrainConfig.for_budget(budget, strategy=strategy, allow_iid=allow_iid,
                                    slices=tuple(slices), executor=executor)
    with rich_progress(quiet=quiet or as_json):
        result = train(table, model, version=version, settings=settings(),
                       experiment=experiment, contract=_contract(contract),
                       param_grid=parse_assignments(grid, lists=True) or None, config=config,
                       allow_unvalidated=allow_unvalidated)
    record = result.evaluation
    note = budget_note(record, budget=budget, n_splits=config.n_splits,
                       bootstrap=config.bootstrap)
    if as_json:
        print_json({"run_id": result.run_id, "model_artifact_id": result.model_artifact_id,
                    "evaluation": record.to_dict() | {"holdout": {
                        "key": record.holdout["key"], "rows": len(record.holdout["ids"])}},
                    "budget": {"name": budget, "n_splits": config.n_splits,
                               "bootstrap": config.bootstrap, "note": note}})
        return
    console.print(f"Run [bold]{result.run_id}[/]: splitter [cyan]{record.splitter}[/] "
                  f"({record.splitter_reason}); leak-free: "
                  + ("[green]yes[/]" if record.leak_free else "[bold red]NO[/]"))
    console.print(metrics_table(record, "Holdout metrics vs dummy baseline"))
    console.print(note, highlight=False)
    for finding in record.findings:
        console.print(f"  {finding['severity']} {finding['code']}: {finding['message']}")
    console.print(f"Details: lockgate runs show {result.run_id}")
