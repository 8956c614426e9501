"""``lockgate runs``: list, show and compare tracked runs."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lockgate.cli.app import console, print_json, settings
from lockgate.errors import LockgateError, close_matches
from lockgate.store import RunRecord, Store
from lockgate.store.run_filter import parse_filter
from lockgate.store.run_search import RUN_COLUMNS, find_runs, primary_metric, run_params, run_tags
from lockgate.tracking.saved_view import SORT_FIELDS
from lockgate.tracking.search import params_that_differ
from lockgate.tracking.tag import parse_tag

app = typer.Typer(help="Tracked runs: list, show, compare, delete, restore.",
                  no_args_is_help=True)

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
    filter_expr: str | None = typer.Option(
        None, "--filter", "-f", help="The dashboard's filter language, e.g. "
        "'params.lr > 0.01 and metrics.auc >= 0.9'."),
    sort: str | None = typer.Option(None, "--sort", help="Order by this metric's last value "
                                    "(shown first); or params.<key>, name, start_time."),
    ascending: bool = typer.Option(False, "--asc", help="Ascending order."),
    columns: str | None = typer.Option(
        None, "--columns", "-c", help="Comma-separated columns, e.g. "
        "'name,metrics.auc,params.lr' (default: the sort metric first, other metrics, "
        "params that differ)."),
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="At most this many runs."),
    all_runs: bool = typer.Option(False, "--all", help="Include pipeline steps (child runs)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output (every "
                                 "metric, param and tag)."),
    view: str | None = typer.Option(None, "--view", help="A saved view's columns, sort, "
                                    "filter and experiment (shared through the store; "
                                    "`lockgate runs view list`); other options override "
                                    "it, and --filter is added to its filter."),
) -> None:
    """List runs, newest first (or by a metric), filtered like the dashboard."""
    if view is not None:
        from lockgate.tracking.saved_view import get_view

        saved = get_view(view, settings=settings())
        experiment = experiment or saved.experiment
        filter_expr = " and ".join(f"({f})" for f in (saved.filter, filter_expr) if f) or None
        if sort is None and saved.sort != "start_time":
            sort, ascending = saved.sort, not saved.descending
        columns = columns or (",".join(saved.columns) if saved.columns else None)
    expression = _expression(filter_expr, status, dict(parse_tag(t) for t in tag))
    order = _order(sort, ascending)
    store = Store.open(settings())
    runs = find_runs(store, expression, order, experiment, limit, include_steps=all_runs)
    ids = [r.id for r in runs]
    last, params = store.last_metrics(ids), run_params(store, ids)
    if as_json:
        tags = run_tags(store, ids)
        print_json([_run_json(r) | {"metrics": last[r.id], "params": params[r.id],
                                    "tags": tags[r.id]} for r in runs])
        return
    if not runs:
        console.print("No runs match." if expression or experiment else
                      "No runs yet. Start one with `lockgate quickstart` or `lg.start_run(...)`.")
        return
    chosen = _columns(columns, runs, last, params, primary_metric(order))
    table = Table(title="Runs", show_lines=False)
    for column in chosen:
        table.add_column(column, overflow="fold",
                         justify="right" if column.startswith("metrics.") else "left")
    for run in runs:
        table.add_row(*(_cell(run, column, last[run.id], params[run.id]) for column in chosen))
    # Piped output is read by tools and people with wide windows: never wrap it at 80.
    (console if console.is_terminal else Console(width=_PIPED_WIDTH)).print(table)


_PIPED_WIDTH = 1000
_RUN_COLUMNS = ("id", "experiment", "name", "status", "started", "duration", "kind", "parent")
_MAX_METRICS = 6
_MAX_PARAMS = 6
_MAX_CELL = 40


def _expression(text: str | None, status: str | None, tags: dict[str, str]) -> str:
    """One filter: the user's, the status and the tags (quoted, so any value is safe)."""
    if not text or not text.strip():
        parts = []
    else:
        parse_filter(text)  # errors quote the filter as the user typed it
        parts = [f"({text})"]
    if status:
        parts.append(f"status = {json.dumps(status.upper())}")
    parts += [f"tags.{json.dumps(k)} = {json.dumps(v)}" for k, v in tags.items()]
    return " and ".join(parts)


def _order(sort: str | None, ascending: bool) -> str | None:
    if not sort:
        return None
    field = sort if "." in sort or sort in RUN_COLUMNS else f"metrics.{sort}"
    return f"{field} {'ASC' if ascending else 'DESC'}"


def _columns(text: str | None, runs: list[RunRecord], last: dict[str, dict[str, float]],
             params: dict[str, dict[str, Any]], primary: str | None) -> list[str]:
    """The columns to show: as asked, or the primary metric first and what differs."""
    if text:
        chosen = [c.strip() for c in text.split(",") if c.strip()]
        for column in chosen:
            if column not in _RUN_COLUMNS and not column.startswith(("metrics.", "params.")):
                raise LockgateError(
                    f"Unknown column `{column}`; use {', '.join(_RUN_COLUMNS)}, metrics.<key> "
                    "or params.<key>." + close_matches(column, _RUN_COLUMNS))
        return chosen
    metric_keys = sorted({k for m in last.values() for k in m}, key=lambda k: (k != primary, k))
    experiments = {r.experiment for r in runs}
    base = ["id", *(["experiment"] if len(experiments) > 1 else []), "name", "status",
            "started", "duration"]
    differ = params_that_differ(params) if len(runs) > 1 else sorted(
        {k for p in params.values() for k in p})
    return [*base, *(f"metrics.{k}" for k in metric_keys[:_MAX_METRICS]),
            *(f"params.{k}" for k in differ[:_MAX_PARAMS])]


def _cell(run: RunRecord, column: str, last: dict[str, float], params: dict[str, Any]) -> str:
    if column.startswith("metrics."):
        return _num(last.get(column[len("metrics."):]))
    if column.startswith("params."):
        key = column[len("params."):]
        if key not in params:
            return "—"
        value = params[key]
        text = value if isinstance(value, str) else json.dumps(value)
        return escape(text if len(text) <= _MAX_CELL else text[:_MAX_CELL - 1] + "…")
    return {
        "id": run.id, "experiment": run.experiment, "name": escape(run.name),
        "status": _status(run.status), "started": _when(run.start_time),
        "duration": _seconds(run.duration), "kind": run.kind, "parent": run.parent_id or "—",
    }[column]


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
    if run.get("deleted_at"):
        console.print(f"[yellow]Deleted {_when(run['deleted_at'])}: hidden from listings; "
                      f"`lockgate runs restore {run['id']}` brings it back until `lockgate gc` "
                      "purges it.[/]")
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


@app.command("delete")
def delete(
    run_ids: list[str] = typer.Argument(..., help="Run ids or unique prefixes."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Soft-delete runs (and their steps): hidden everywhere, restorable until purged.

    `lockgate gc` purges them after `run_purge_days` (30 by default). A run a registered
    model version was trained by, or depends on through lineage, is refused.
    """
    from lockgate.retention import delete_runs

    done = delete_runs(run_ids, settings=settings())
    if as_json:
        print_json([_run_json(r) for r in done])
        return
    if not done:
        console.print("Nothing to delete: the runs were deleted already.")
        return
    for run in done:
        console.print(f"Deleted run {run.id} ([bold]{escape(run.name)}[/]).")
    console.print(f"Restore with `lockgate runs restore {' '.join(r.id for r in done[:1])}`; "
                  f"`lockgate gc` purges them after {settings().run_purge_days:g} days.")


@app.command("restore")
def restore(
    run_ids: list[str] = typer.Argument(..., help="Run ids or unique prefixes."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Bring back soft-deleted runs (with the steps deleted with them)."""
    from lockgate.retention import restore_runs

    done = restore_runs(run_ids, settings=settings())
    if as_json:
        print_json([_run_json(r) for r in done])
        return
    if not done:
        console.print("Nothing to restore: the runs are not deleted.")
    for run in done:
        console.print(f"Restored run {run.id} ([bold]{escape(run.name)}[/]).")


views = typer.Typer(help="Saved views of the runs table (columns, sort, filter), shared by "
                    "everyone using this store and the dashboard.", no_args_is_help=True)
app.add_typer(views, name="view")


@views.command("save")
def save_view_command(
    name: str = typer.Argument(..., help="The view's name."),
    columns: str | None = typer.Option(None, "--columns", "-c", help="Comma-separated, e.g. "
                                       "'name,metrics.auc,params.lr' (default columns when "
                                       "omitted)."),
    sort: str = typer.Option("start_time", "--sort", help="metrics.<key>, params.<key> or a "
                             "run field (start_time, name, duration, ...)."),
    ascending: bool = typer.Option(False, "--asc", help="Ascending order."),
    filter_expr: str = typer.Option("", "--filter", "-f", help="The runs filter language."),
    experiment: str | None = typer.Option(None, "--experiment", "-e"),
) -> None:
    """Save (or replace) a view of the runs table for everyone using this store."""
    from lockgate.tracking.saved_view import save_view

    field = sort if "." in sort or sort in SORT_FIELDS else f"metrics.{sort}"
    saved = save_view(name, columns=(columns or "").split(","), sort=field,
                      descending=not ascending, filter=filter_expr, experiment=experiment,
                      settings=settings())
    console.print(f"Saved view [bold]{escape(saved.name)}[/]: {escape(repr(saved))}. Use it "
                  f"with `lockgate runs list --view {escape(saved.name)}` or the dashboard's "
                  "views menu.", highlight=False)


@views.command("list")
def list_views_command(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """The saved views of the runs table."""
    from lockgate.tracking.saved_view import list_views

    found = list_views(settings=settings())
    if as_json:
        print_json([{"name": v.name, "columns": list(v.columns), "sort": v.sort,
                     "descending": v.descending, "filter": v.filter,
                     "experiment": v.experiment} for v in found])
        return
    if not found:
        console.print("No saved views. Save one with `lockgate runs view save NAME "
                      "--columns ... --sort ...`.")
        return
    table = Table(title="Saved views")
    for column in ("name", "columns", "sort", "filter", "experiment"):
        table.add_column(column, overflow="fold")
    for v in found:
        table.add_row(escape(v.name), escape(", ".join(v.columns) or "(default)"),
                      escape(f"{v.sort} {'DESC' if v.descending else 'ASC'}"),
                      escape(v.filter or "—"), escape(v.experiment or "any"))
    (console if console.is_terminal else Console(width=_PIPED_WIDTH)).print(table)


@views.command("delete")
def delete_view_command(name: str = typer.Argument(..., help="The view to remove.")) -> None:
    """Remove a saved view."""
    from lockgate.tracking.saved_view import delete_view

    delete_view(name, settings=settings())
    console.print(f"Deleted view {escape(name)}.")

