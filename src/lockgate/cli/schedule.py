"""``lockgate schedule add|list|remove`` and ``lockgate scheduler``."""

from __future__ import annotations

import datetime as dt
import signal
import threading
import time
from typing import Any

import typer
from rich.table import Table

from lockgate.cli.app import console, print_json, settings
from lockgate.errors import LockgateError
from lockgate.pipelines.schedule import (
    Launch,
    Schedule,
    Scheduler,
    add_schedule,
    claims,
    list_schedules,
    normalise_refs,
    remove_schedule,
)
from lockgate.store import Store

app = typer.Typer(help="Cron schedules of pipelines.", no_args_is_help=True)


@app.command("add")
def add(
    name: str = typer.Argument(..., help="Schedule name."),
    pipeline: str = typer.Option(..., "--pipeline", help="path/to/pipelines.py:name."),
    cron: str = typer.Option(..., "--cron", help='Cron expression in UTC, e.g. "0 * * * *".'),
    params: str | None = typer.Option(None, "--params", "-p", help="params.yaml."),
    overrides: list[str] = typer.Option([], "--set", help="step.arg=value; repeatable."),
    executor: str = typer.Option("local", "--executor", help="local or ray."),
    catchup: str = typer.Option("latest", "--catchup", help="Due times missed while no "
                                "scheduler ran: none (skip), latest (start the newest) or "
                                "all (start each, at most 100)."),
) -> None:
    """Add a schedule (the pipeline and its params are checked now, not at 3 a.m.)."""
    ref, params_file = normalise_refs(pipeline, params)
    added = add_schedule(Store.open(settings()), Schedule(
        name, ref, cron, params_file, tuple(overrides), executor,
        catchup=catchup))  # type: ignore[arg-type]  # checked by add_schedule
    console.print(f"Added schedule [bold]{added.name}[/]: {added.pipeline_ref} at "
                  f"`{added.cron}`; next run {_utc(added.next_due(added.created_at))}. "
                  "Start `lockgate scheduler` to run it.")


@app.command("list")
def list_command(as_json: bool = typer.Option(False, "--json", help="Machine-readable.")) -> None:
    """List schedules with their next due time and last start."""
    store = Store.open(settings())
    now = time.time()
    latest: dict[object, dict[str, object]] = {}
    for taken in claims(store):  # newest first: keep each schedule's first claim
        latest.setdefault(taken["schedule"], taken)
    rows: list[dict[str, Any]] = []
    for s in list_schedules(store):
        last = latest.get(s.name, {})
        rows.append({"name": s.name, "pipeline": s.pipeline_ref, "cron": s.cron,
                     "executor": s.executor, "catchup": s.catchup, "next_due": s.next_due(now),
                     "last_started": last.get("due_at"), "last_owner": last.get("owner"),
                     "last_status": last.get("status"),
                     "last_launched_at": last.get("launched_at")})
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("No schedules. Add one with `lockgate schedule add NAME --pipeline "
                      'path.py:name --cron "0 * * * *"`.')
        return
    table = Table(title="Schedules")
    for column in ("name", "pipeline", "cron", "executor", "catchup", "next due (UTC)",
                   "last due run"):
        table.add_column(column, overflow="fold")
    for r in rows:
        last_run = (f"{_utc(r['last_started'])} ({r['last_status']})" if r["last_started"]
                    else "-")
        table.add_row(r["name"], r["pipeline"], r["cron"], r["executor"], r["catchup"],
                      _utc(r["next_due"]), last_run)
    console.print(table)


@app.command("remove")
def remove(name: str = typer.Argument(..., help="Schedule name.")) -> None:
    """Remove a schedule."""
    remove_schedule(Store.open(settings()), name)
    console.print(f"Removed schedule [bold]{name}[/].")


def scheduler(
    once: bool = typer.Option(False, "--once", help="One pass: start what is due, wait for "
                              "those runs, exit."),
    poll: float = typer.Option(30.0, "--poll", min=0.1, help="Seconds between checks."),
    at: float | None = typer.Option(None, "--at", help="With --once: act as if it were this "
                                    "epoch time (tests, backfills)."),
) -> None:
    """Start due pipeline runs; any number of schedulers may share a store."""
    if at is not None and not once:
        raise LockgateError(f"`--at {at:g}` only applies to one pass; add `--once` (a serving "
                            "scheduler always uses the current time).")
    runner = Scheduler(settings())
    if once:
        started = runner.tick(at)
        for launch in started:
            console.print(_started(launch))
        runner.wait()
        if not started:
            console.print("Nothing due.")
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    console.print(f"Scheduler {runner.owner} running; Ctrl-C to stop.")
    try:
        runner.serve(poll_seconds=poll, stop=stop,
                     on_launch=lambda launch: console.print(_started(launch)))
    except KeyboardInterrupt:
        stop.set()


def _started(launch: Launch) -> str:
    late = max(0.0, launch.launched_at - launch.due_at)
    again = f", attempt {launch.attempt} (an earlier scheduler died)" if launch.attempt > 1 else ""
    return f"started {launch.schedule} due {_utc(launch.due_at)} ({late:.0f} s late{again})"


def _utc(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
