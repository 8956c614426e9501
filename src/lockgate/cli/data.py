"""``lockgate data``: tables, versions, rows and the quarantine."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import typer
from rich.table import Table

from lockgate.cli import quality as quality_cli
from lockgate.cli.app import console, print_json, settings
from lockgate.data import list_tables, quarantined, read, release, versions
from lockgate.data.contract import load_contract
from lockgate.data.errors import ContractError
from lockgate.data.quarantine import summary
from lockgate.data.tables import parse_table_ref, rows_at
from lockgate.store import DatasetVersion, Store

app = typer.Typer(help="Versioned tables: list, versions, show, quarantine.",
                  no_args_is_help=True)


@app.command("tables")
def tables_cmd(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")
               ) -> None:
    """List tables with their latest version."""
    conf = settings()
    latest = list_tables(settings=conf)
    store = Store.open(conf)
    totals = {v.table_name: rows_at(store, v) for v in latest}
    if as_json:
        print_json([_version_json(v) | {"rows": totals[v.table_name]} for v in latest])
        return
    if not latest:
        console.print("No tables yet. Ingest one with `lockgate ingest DATA.csv --table T "
                      "--contract T.yaml`.")
        return
    table = Table(title="Tables")
    for col in ("table", "latest", "rows", "last batch accepted", "quarantined", "status",
                "contract", "when"):
        table.add_column(col, justify="right" if col in ("rows", "quarantined") else "left")
    for v in latest:
        table.add_row(v.table_name, f"v{v.version}", f"{totals[v.table_name]:,}",
                      f"{v.rows_accepted:,}", f"{v.rows_quarantined:,}",
                      _status(v.validation_status),
                      v.contract_version or "", _when(v.created_at))
    console.print(table)


@app.command("versions")
def versions_cmd(
    table: str = typer.Argument(..., help="Table name."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Every version of a table: source, counts, validation verdict."""
    found = versions(table, settings=settings())
    if as_json:
        print_json([_version_json(v) for v in found])
        return
    out = Table(title=f"Versions of {table}")
    for col in ("version", "source", "ingested", "accepted", "quarantined", "status",
                "contract", "batch", "when"):
        out.add_column(col, overflow="fold")
    for v in found:
        change = v.details.get("contract_change")
        contract_text = v.contract_version or ""
        if change:
            contract_text = f"v{change['from']} -> v{change['to']}"
        out.add_row(f"v{v.version}", v.source or "", str(v.rows_ingested), str(v.rows_accepted),
                    str(v.rows_quarantined), _status(v.validation_status),
                    contract_text, v.batch_id or "", _when(v.created_at))
    console.print(out)


@app.command("show")
def show_cmd(
    ref: str = typer.Argument(..., help="TABLE or TABLE@VERSION (e.g. churn@2 or churn@v2)."),
    limit: int = typer.Option(10, "--limit", "-n", min=1, help="Rows to show."),
    as_json: bool = typer.Option(False, "--json", help="Rows as JSON."),
) -> None:
    """Show a table's rows as of a version (latest by default)."""
    name, version = parse_table_ref(ref)
    frame = read(name, version, settings=settings())
    if as_json:
        print_json(frame.head(limit).to_dicts())
        return
    console.print(f"[bold]{name}[/] {'latest' if version is None else f'v{version}'}: "
                  f"{frame.height} rows, {frame.width} columns")
    console.print(_frame_table(frame.head(limit)))


@app.command("quarantine")
def quarantine_cmd(
    table: str = typer.Argument(..., help="Table name."),
    do_release: bool = typer.Option(False, "--release", help="Re-validate quarantined rows "
                                    "(after a contract fix) and land those that pass."),
    contract: str | None = typer.Option(None, "--contract", "-c",
                                        help="The fixed contract YAML for --release."),
    export_to: str | None = typer.Option(None, "--export", help="Write every quarantined "
                                         "row (reasons, where it came from, the source "
                                         "values) to a .csv or .parquet file."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Quarantined rows grouped by reason, export them, or release them after a fix."""
    conf = settings()
    if export_to is not None:
        from lockgate.data.quarantine import export

        rows = quarantined(table, settings=conf)
        written = export(rows, export_to)
        if as_json:
            print_json({"rows": rows.height, "path": str(written)})
        else:
            console.print(f"Exported {rows.height} quarantined rows of `{table}` to {written}")
        return
    if do_release:
        result = release(table, load_contract(contract) if contract else None, settings=conf)
        if as_json:
            print_json({"checked": result.checked, "released": result.released,
                        "remaining": result.remaining, "version": result.dataset_version,
                        "reasons": result.reasons})
            return
        console.print(f"Re-validated {result.checked} rows: [green]{result.released} released"
                      f"[/]{f' as {table}@v{result.dataset_version}' if result.released else ''}"
                      f", {result.remaining} still quarantined.")
        return
    if contract:
        raise ContractError("--contract is only used with --release.")
    rows = quarantined(table, settings=conf)
    grouped = summary(rows)
    if as_json:
        print_json({"rows": rows.height, "reasons": grouped.to_dicts()})
        return
    if rows.is_empty():
        console.print(f"No quarantined rows for `{table}`.")
        return
    out = Table(title=f"Quarantine of {table}: {rows.height} rows")
    for col in ("reason", "rows", "batches", "example raw values"):
        out.add_column(col, overflow="fold")
    for rec in grouped.iter_rows(named=True):
        out.add_row(rec["reason"], str(rec["rows"]), str(rec["batches"]),
                    _short(rec["example"]))
    console.print(out)
    console.print(f"  After fixing the contract: [bold cyan]lockgate data quarantine {table} "
                  "--release --contract FIXED.yaml[/]")


def render_summary(result: dict) -> None:
    """Print one batch's summary (shared by ingest commands)."""
    if not result["created"]:
        console.print(f"[yellow]Already ingested[/]: same content landed as "
                      f"{result['table']}@v{result['version']} under contract "
                      f"v{result['contract_version']}; nothing new was written. (After "
                      "changing the contract, give it a new version.)")
        return
    console.print(
        f"[bold]{result['table']}@v{result['version']}[/]: ingested {result['ingested']}, "
        f"[green]accepted {result['accepted']}[/], [yellow]quarantined "
        f"{result['quarantined']}[/], validation {_status(result['validation_status'])}"
        + (f", {result['deduplicated']} copies skipped" if result.get("deduplicated") else "")
        + (f", {result['updated']} updated" if result.get("updated") else ""))
    for code, count in sorted(result["reasons"].items(), key=lambda kv: -kv[1]):
        console.print(f"    {count:>6}  {code}")
    for warning in result["warnings"]:
        console.print(f"  [bold yellow]warning:[/] {warning}")


def _frame_table(frame: pl.DataFrame) -> Table:
    out = Table()
    for name, dtype in frame.schema.items():
        out.add_column(f"{name}\n[dim]{dtype}[/]", overflow="fold")
    for row in frame.iter_rows():
        out.add_row(*("" if v is None else str(v) for v in row))
    return out


def _version_json(v: DatasetVersion) -> dict:
    return {"table": v.table_name, "version": v.version, "source": v.source,
            "batch_id": v.batch_id, "ingested": v.rows_ingested, "accepted": v.rows_accepted,
            "quarantined": v.rows_quarantined, "content_hash": v.content_hash,
            "contract_version": v.contract_version, "validation_status": v.validation_status,
            "reasons": v.details.get("reasons", {}), "created_at": v.created_at,
            "deduplicated": v.details.get("deduplicated", 0),
            "updated": v.details.get("updated", 0),
            "contract_change": v.details.get("contract_change")}


def _status(status: str | None) -> str:
    color = {"passed": "green", "failed": "red"}.get(status or "", "yellow")
    return f"[{color}]{status}[/]"


def _when(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _short(raw: str | None, width: int = 90) -> str:
    if raw is None:
        return ""
    text = json.dumps(json.loads(raw), ensure_ascii=False)
    return text if len(text) <= width else text[: width - 1] + "…"


# `lockgate data report T[@V]` is the quality stage's report, offered where people look for
# it; `lockgate quality report` is the same command.
app.command("report")(quality_cli.report)
