"""``lockgate import mlflow``: bring an MLflow store's history into lockgate."""

from __future__ import annotations

import typer

from lockgate.cli.app import console, print_json, settings

app = typer.Typer(help="Import history from other tools.", no_args_is_help=True)


@app.command("mlflow")
def mlflow_command(
    tracking_uri: str = typer.Option(..., "--tracking-uri",
                                     help="An MLflow file store (folder or file://) or "
                                          "SQLite store (sqlite:///mlflow.db)."),
    experiment: list[str] = typer.Option([], "--experiment",
                                         help="Only this experiment; repeatable."),
    trust_pickle: bool = typer.Option(False, "--trust-pickle",
                                      help="Convert pickle-based models (unpickled once, "
                                           "here; stored as safe flavor files; recorded)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Import experiments, runs, metrics, artifacts and models; idempotent."""
    from lockgate.registry.mlflow_import import import_mlflow

    report = import_mlflow(tracking_uri, experiments=experiment or None,
                           trust_pickle=trust_pickle, settings=settings())
    if as_json:
        print_json({"uri": report.uri, "imported_runs": report.imported_runs,
                    "already_imported": report.already_imported, "models": report.models,
                    "versions": report.versions, "skipped": report.skipped})
        return
    console.print(f"Imported {len(report.imported_runs)} run(s) from {report.uri} "
                  f"({len(report.already_imported)} already imported); "
                  f"{len(report.models)} model(s) converted through their flavors.")
    for mlflow_id, run_id in report.imported_runs.items():
        flavor = report.models.get(mlflow_id)
        console.print(f"  {mlflow_id} -> run {run_id}" + (f" (model: {flavor})" if flavor
                                                          else ""))
    for line in report.versions:
        console.print(f"  registered model {line}")
    if report.skipped:
        console.print(f"[yellow]Not imported ({len(report.skipped)}):[/]")
        for line in report.skipped:
            console.print(f"  - {line}")
