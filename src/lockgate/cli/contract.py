"""``lockgate contract``: draft a contract from a sample, check one."""

from __future__ import annotations

import sys

import typer

from lockgate.cli.app import console
from lockgate.data import infer_contract
from lockgate.data.contract import load_contract

app = typer.Typer(help="Data contracts: infer a draft, check a file.", no_args_is_help=True)


@app.command("infer")
def infer_cmd(
    path: str = typer.Argument(..., help="A sample CSV / Parquet / JSONL file."),
    table: str | None = typer.Option(None, "--table", "-t", help="Table name (default: the "
                                     "file name)."),
) -> None:
    """Draft a contract: `lockgate contract infer data.csv > contract.yaml`. Guesses are
    marked `# GUESS:` for you to confirm."""
    sys.stdout.write(infer_contract(path, table).to_yaml())


@app.command("check")
def check_cmd(path: str = typer.Argument(..., help="Contract YAML.")) -> None:
    """Load a contract and report every problem in it at once."""
    contract = load_contract(path)
    console.print(f"[green]ok[/]: contract `{contract.table}` v{contract.version}, "
                  f"{len(contract.columns)} columns, on_schema_change="
                  f"{contract.on_schema_change}, on_duplicate={contract.on_duplicate}")
