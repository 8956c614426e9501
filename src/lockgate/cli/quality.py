"""``lockgate quality`` (and ``lockgate data report``): quality reports and profiles of
dataset versions."""

from __future__ import annotations

import webbrowser
from pathlib import Path

import typer
from rich.table import Table

from lockgate.cli.app import console, print_json, settings
from lockgate.data.tables import parse_table_ref
from lockgate.quality.report import default_folder, quality_report
from lockgate.quality.stored_profile import profile_for
from lockgate.store import Store

app = typer.Typer(help="Data quality: reports and profiles of dataset versions.",
                  no_args_is_help=True)


@app.command("report")
def report(
    ref: str = typer.Argument(..., help="TABLE or TABLE@VERSION (e.g. orders@3)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Folder for quality.html and "
                                    "quality.json (default: <home>/reports/TABLE/vN)."),
    open_browser: bool = typer.Option(False, "--open", help="Open the HTML report."),
    as_json: bool = typer.Option(False, "--json", help="Print the JSON report."),
) -> None:
    """Write a version's quality report (HTML + JSON): checks, quarantine, columns, drift."""
    current = settings()
    table, version = parse_table_ref(ref)
    found = Store.open(current).dataset_version(table, version)
    result = quality_report(table, found.version, settings=current)
    html_path, json_path = result.write(out or default_folder(current, found))
    if as_json:
        print_json(result.data)
    else:
        _summary(result.data)
        console.print(f"HTML: {html_path}\nJSON: {json_path}")
    if open_browser:
        webbrowser.open(html_path.resolve().as_uri())


@app.command("profile")
def profile_cmd(
    ref: str = typer.Argument(..., help="TABLE or TABLE@VERSION."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole profile."),
) -> None:
    """Show a version's stored profile (computed on first use)."""
    table, version = parse_table_ref(ref)
    found = profile_for(table, version, settings=settings())
    if as_json:
        print_json(found.to_dict())
        return
    grid = Table(title=f"Profile of {ref} ({found.rows} rows)")
    for column in ("column", "kind", "role", "missing", "distinct", "min", "median", "max",
                   "mean", "std", "top"):
        grid.add_column(column, overflow="fold")
    for row in found.summary():
        grid.add_row(row["column"], row["kind"], row["role"] or "",
                     f"{row['null_fraction']:.1%}", str(row["distinct"]), _n(row["min"]),
                     _n(row["median"]), _n(row["max"]), _n(row["mean"]), _n(row["std"]),
                     str(row["top"] or ""))
    console.print(grid)


def _summary(data: dict) -> None:
    d, checks, quarantine, drift = (data["dataset"], data["checks"], data["quarantine"],
                                    data["drift"])
    colour = "green" if d["validation_status"] == "passed" else "red"
    console.print(f"[bold]{d['ref']}[/]: validation [{colour}]{d['validation_status']}[/], "
                  f"{d['rows_accepted']} accepted, {d['rows_quarantined']} quarantined")
    console.print(f"  checks: {checks['ok']} ok, {checks['not_ok']} failed")
    for item in checks["items"]:
        if not item["ok"]:
            console.print(f"    [red]FAILED[/] {item['name']} ({item['level']}): "
                          f"{item['message'] or str(item['failed']) + ' rows failed'}")
    if quarantine["reasons"]:
        reasons = ", ".join(f"{k}: {v}" for k, v in quarantine["reasons"].items())
        console.print(f"  quarantine by reason: {reasons}")
    if drift.get("compared"):
        drifted = ", ".join(drift["drifted_features"]) or "none"
        console.print(f"  drift vs previous version: {drift['share_drifted']:.0%} of "
                      f"columns drifted ({drifted})")
    else:
        console.print(f"  drift: not compared ({drift.get('why')})")


def _n(value: object) -> str:
    return "—" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
