"""``lockgate runs``: list, show and compare tracked runs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import typer
from rich.table import Table

from lockgate.cli.app import console, print_json, settings
from lockgate.errors import LockgateError
from lockgate.store import RunRecord, Store

app = typer.Typer(help="Tracked runs: list, show, compare.", no_args_is_help=True)

_STATUS_STYLE = {
    "FINISHED": "green", "RUNNING": "cyan", "FAILED": "red", "CRASHED": "bold red",
    "SKIPPED": "yellow", "CACHED": "blue", "KILLED": "magenta", "TIMED_OUT": "bold red",
}


@app.command("list")
def list_runs(
    experiment: str | None = typer.Option(None, "--experiment", "-e", help="Only this experiment."),
    status: str | None = typer.Option(None, "--status", "-s", help="RUNNING, FINISHED, FAILED, "
                                      "CRASHED, SKIPPED, CACHED, KILLED or TIMED_OUT."),
    tag: list[str] = typer.Option([], "--tag", "-t", help="key=value; repeat to combine."),
    sort: str | None = typer.Option(None, "--sort", help="Order by this metric's last value."),
    ascending: bool = typer.Option(False, "--asc", help="Ascending metric order."),
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="At most this many runs."),
    all_runs: bool = typer.Option(False, "--all", help="Include pipeline steps (child runs)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List runs, newest first (or by a metric)."""
    tags = dict(_parse_tag(t) for t in tag)
    store = Store.open(settings())
    runs = store.list_runs(
        experiment=experiment, status=status, tags=tags, sort_metric=sort, ascending=ascending,
        limit=limit, top_level=not all_runs,
    )
    last = store.last_metrics([r.id for r in runs])
    if as_json:
        print_json([_run_json(r) | {"metrics": last[r.id]} for r in runs])
        return
    if not runs:
        console.print("No runs yet. Start one with `lockgate quickstart` or `lg.start_run(...)`.")
        return
    keys = sorted({k for r in runs for k in last[r.id]})[:6]
    table = Table(title="Runs", show_lines=False)
    for column in ("id", "experiment", "name", "status", "started", "duration", *keys):
        table.add_column(column, overflow="fold")
    for run in runs:
        table.add_row(
            run.id, run.experiment, run.name, _status(run.status), _when(run.start_time),
            _seconds(run.duration), *(_num(last[run.id].get(k)) for k in keys),
        )
    console.print(table)


@app.command("show")
def show(
    run_id: str = typer.Argument(..., help="Run id or a unique prefix of it."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    tail: int = typer.Option(20, "--tail", help="Console lines to show."),
) -> None:
    """Show one run: params, last metrics, artifacts, code, environment, notes, console."""
    store = Store.open(settings())
    from lockgate.tracking.report import run_summary  # not needed by `runs list`

    summary = run_summary(store, run_id, tail_lines=tail)
    if as_json:
        print_json(summary)
        return
    run = summary["run"]
    console.print(
        f"[bold]{run['name']}[/] ({run['id']}) in [cyan]{run['experiment']}[/]: "
        f"{_status(run['status'])}, {_seconds(run['duration'])}"
    )
    if run["error"]:
        console.print(f"[red]{run['error'].strip().splitlines()[-1]}[/]")
    _kv_table("Params", summary["params"])
    _kv_table("Metrics (last value)", {k: _num(v) for k, v in summary["metrics"].items()})
    _kv_table("Tags", summary["tags"])
    if summary["artifacts"]:
        table = Table(title="Artifacts")
        for column in ("id", "name", "size", "type", "sha256"):
            table.add_column(column)
        for a in summary["artifacts"]:
            table.add_row(str(a["id"]), a["name"], str(a["size"]), a["media_type"],
                          a["sha256"][:12])
        console.print(table)
    code = summary["code"]
    if code:
        dirty = " (dirty)" if code["dirty"] else ""
        console.print(f"Code: {code['commit'] or 'not a git repository'} {code['branch'] or ''}"
                      f"{dirty}")
    env = summary["environment"]
    if env:
        console.print(f"Environment: Python {env['python']} on {env['platform']}, "
                      f"{len(env['packages'])} distributions")
    children = summary["children"]
    if children:
        _kv_table("Child runs", {c["name"]: f"{c['status']} ({c['id']})" for c in children})
    for note in summary["notes"]:
        console.print(f"[italic]note:[/] {note['text']}")
    if summary["console_tail"]:
        console.rule("console (tail)")
        console.print(summary["console_tail"], markup=False, highlight=False)
    for extra in summary.get("sections", []):
        _kv_table(extra["title"], extra["values"])


@app.command("compare")
def compare(
    run_ids: list[str] = typer.Argument(..., help="Two or more run ids (or prefixes)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    lower_is_better: list[str] = typer.Option(
        [], "--lower", help="Metrics where lower is better (default: names with loss, error, "
        "rmse, mae, brier)."),
) -> None:
    """Compare runs: params that differ and final metrics side by side, best marked."""
    if len(run_ids) < 2:
        raise LockgateError("Give at least two run ids to compare.")
    store = Store.open(settings())
    from lockgate.tracking.report import compare_runs

    result = compare_runs(store, run_ids, lower_is_better=set(lower_is_better))
    if as_json:
        print_json(result)
        return
    ids = [r["id"] for r in result["runs"]]
    table = Table(title="Params that differ")
    table.add_column("param")
    for r in result["runs"]:
        table.add_column(f"{r['name']}\n{r['id'][:8]}")
    for key, values in result["params_differ"].items():
        table.add_row(key, *(str(values.get(i, "—")) for i in ids))
    console.print(table if result["params_differ"] else "Params: identical")
    table = Table(title="Final metrics (* best)")
    table.add_column("metric")
    for r in result["runs"]:
        table.add_column(f"{r['name']}\n{r['id'][:8]}")
    for key, values in result["metrics"].items():
        best = result["best"].get(key)
        table.add_row(key, *(
            ("[bold green]* " if i == best else "") + _num(values.get(i)) + (
                "[/]" if i == best else "") for i in ids))
    console.print(table)


def _parse_tag(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise LockgateError(f"Tag filter `{text}` must look like key=value.")
    key, value = text.split("=", 1)
    return key, value


def _kv_table(title: str, values: dict[str, Any]) -> None:
    if not values:
        return
    table = Table(title=title, show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in values.items():
        table.add_row(str(key), str(value))
    console.print(table)


def _run_json(run: RunRecord) -> dict[str, Any]:
    return {
        "id": run.id, "name": run.name, "experiment": run.experiment, "kind": run.kind,
        "status": run.status, "parent_id": run.parent_id, "start_time": run.start_time,
        "end_time": run.end_time, "duration": run.duration,
    }


def _status(status: str) -> str:
    return f"[{_STATUS_STYLE.get(status, 'white')}]{status}[/]"


def _when(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}s"


def _num(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.4g}"
