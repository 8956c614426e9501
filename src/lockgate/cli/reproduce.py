"""``lockgate reproduce RUN``: re-execute a training run from its recorded code, data,
params and seeds, and compare every output with the original."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from lockgate.cli.app import console, print_json, settings


def reproduce_command(
    run_id: str = typer.Argument(..., help="The run to reproduce (any unique prefix)."),
    tolerance: float = typer.Option(1e-9, "--tolerance", min=0.0,
                                    help="Absolute metric difference counted as within "
                                         "tolerance."),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
) -> None:
    """Re-run a training run in a temporary worktree at its commit; compare the outputs."""
    from lockgate.modeling.reproduction import as_json as result_json
    from lockgate.modeling.reproduction import reproduce

    result = reproduce(run_id, settings=settings(), tolerance=tolerance)
    if as_json:
        print_json(json.loads(result_json(result)))
        raise typer.Exit(0 if result.identical else 2)
    table = Table(title=f"Run {result.original_run_id} reproduced as {result.run_id} "
                        f"(code {result.code})", title_justify="left")
    for column in ("kind", "name", "verdict", "cause"):
        table.add_column(column, overflow="fold")
    colours = {"identical": "green", "within_tolerance": "yellow", "different": "red",
               "missing": "red", "not_compared": "dim"}
    for c in result.comparisons:
        table.add_row(c.kind, c.name, f"[{colours[c.verdict]}]{c.verdict}[/]", c.cause)
    console.print(table)
    counts = ", ".join(f"{n} {v}" for v, n in sorted(result.counts().items()))
    verdict = "[green]identical[/]" if result.identical else "[red]not identical[/]"
    console.print(f"Reproduction {verdict}: {counts}. Compare: lockgate runs compare "
                  f"{result.original_run_id} {result.run_id}")
    if not result.identical:
        raise typer.Exit(2)
