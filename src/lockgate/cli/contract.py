"""``lockgate contract``: draft a contract from a sample, check one, apply a new version."""

from __future__ import annotations

import sys

import typer

from lockgate.cli.app import console
from lockgate.data import infer_contract
from lockgate.data.contract import load_contract

app = typer.Typer(help="Data contracts: infer a draft, check a file, apply a new version.",
                  no_args_is_help=True)


@app.command("infer")
def infer_cmd(
    path: str = typer.Argument(..., help="A sample CSV / Parquet / JSONL file."),
    table: str | None = typer.Option(None, "--table", "-t", help="Table name (default: the "
                                     "file name)."),
    target: str | None = typer.Option(None, "--target", help="The label column."),
    primary_key: list[str] = typer.Option([], "--primary-key", "--pk", help="Primary key "
                                          "column; repeat for a composite key."),
    event_time: str | None = typer.Option(None, "--event-time", help="The event time "
                                          "column."),
    entity: str | None = typer.Option(None, "--entity", help="The entity column (rows of "
                                      "one entity stay in one fold)."),
    separator: str | None = typer.Option(None, "--separator", "--sep", help="CSV separator "
                                         "(default: sniffed)."),
    encoding: str | None = typer.Option(None, "--encoding", help="Text encoding (default: "
                                        "BOM, else utf-8)."),
    decimal_comma: bool = typer.Option(False, "--decimal-comma", help="Numbers are written "
                                       "1.234,5."),
) -> None:
    """Draft a contract: `lockgate contract infer data.csv > contract.yaml`. Guesses are
    marked `# GUESS:` for you to confirm."""
    from lockgate.data.source import CsvDialect

    dialect = CsvDialect(separator.replace("\\t", "\t") if separator else None, None,
                         encoding, decimal_comma)
    sys.stdout.write(infer_contract(path, table, target=target,
                                    primary_key=primary_key or None, event_time=event_time,
                                    entity=entity, dialect=dialect).to_yaml())


@app.command("apply")
def apply_cmd(
    table: str = typer.Argument(..., help="An ingested table."),
    path: str = typer.Argument(..., help="The new contract YAML (with a new `version:`)."),
    revalidate: bool = typer.Option(False, "--revalidate", help="Check the rows already "
                                    "landed against the new contract and record the "
                                    "verdict."),
) -> None:
    """Make a fixed contract the table's contract: the next ingest, release and training
    use it; `lockgate data versions T` shows the version that carries it."""
    from lockgate.cli.app import settings
    from lockgate.data.contract_versions import apply_contract

    applied = apply_contract(table, path, revalidate=revalidate, settings=settings())
    version = applied.dataset_version
    console.print(f"[bold]{version.ref}[/]: contract v{applied.previous_version} -> "
                  f"v{version.contract_version}")
    if applied.revalidated and not applied.failing:
        console.print("  [green]the landed rows pass the new contract[/]")
    for name, count in sorted(applied.failing.items(), key=lambda kv: -kv[1]):
        console.print(f"  [yellow]{count:>6} landed rows fail[/] {name}")
    console.print(f"  Re-check quarantined rows: [bold cyan]lockgate data quarantine {table} "
                  "--release[/]")


@app.command("check")
def check_cmd(path: str = typer.Argument(..., help="Contract YAML.")) -> None:
    """Load a contract and report every problem in it at once."""
    contract = load_contract(path)
    console.print(f"[green]ok[/]: contract `{contract.table}` v{contract.version}, "
                  f"{len(contract.columns)} columns, on_schema_change="
                  f"{contract.on_schema_change}, on_duplicate={contract.on_duplicate}")
