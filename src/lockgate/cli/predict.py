"""``lockgate predict NAME@ALIAS INPUT --out PATH``: batch scoring of a file or a table
through the model's contract, with a progress bar and a summary."""

from __future__ import annotations

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lockgate.cli.app import console, print_json, settings
from lockgate.serving.batch_scoring import BatchScoringResult, predict_batch


def predict_command(
    ref: str = typer.Argument(..., help="The model: NAME, NAME@ALIAS or NAME@VERSION."),
    source: str = typer.Argument(..., help="A CSV/Parquet/JSONL file, or TABLE[@VERSION]."),
    out: str = typer.Option(..., "--out", "-o", help="PATH.parquet|.csv|.jsonl, or "
                            "table:NAME (a Delta table under <data_root>/_scores)."),
    chunk_rows: int = typer.Option(50_000, "--chunk-rows", min=1,
                                   help="Rows per chunk (bounds memory)."),
    no_log: bool = typer.Option(False, "--no-prediction-log", help="Do not append the "
                                "predictions to the model's prediction log."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable summary."),
) -> None:
    """Score a file or table with a registered model: `lockgate predict churn@production
    customers.csv --out scores.parquet`. Bad rows are quarantined with reasons."""
    with Progress(TextColumn("[bold]scoring[/] {task.description}"), BarColumn(),
                  MofNCompleteColumn(), TextColumn("rows"), TimeElapsedColumn(),
                  console=console, transient=True, disable=as_json) as bar:
        task = bar.add_task(source, total=None)

        def advance(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        result = predict_batch(ref, source, out=out, settings=settings(),
                               chunk_rows=chunk_rows, log_predictions=not no_log,
                               progress=advance)
    if as_json:
        print_json(result.to_dict())
        return
    render(result)


def render(result: BatchScoringResult) -> None:
    """The summary a person reads after a scoring job."""
    console.print(
        f"Scored [bold]{result.rows_scored:,}[/] of {result.rows_read:,} rows of "
        f"{result.source} with {result.model_name}@{result.model_version} -> "
        f"{result.output} ({result.rows_per_second:,.0f} rows/s, batch {result.batch_id})")
    if result.rows_quarantined:
        table = Table(title=f"{result.rows_quarantined:,} rows quarantined -> "
                            f"{result.quarantine}", title_justify="left")
        table.add_column("reason")
        table.add_column("rows", justify="right")
        for reason, count in result.reasons.items():
            table.add_row(reason, f"{count:,}")
        console.print(table)
    if result.ignored_columns:
        console.print(f"  columns the model does not read (ignored): "
                      f"{', '.join(result.ignored_columns)}")
    if result.logged:
        console.print(f"  {result.logged:,} predictions logged with batch id "
                      f"{result.batch_id}: `lockgate monitor {result.model_name}` sees them")
