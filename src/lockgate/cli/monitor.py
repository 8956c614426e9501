"""``lockgate monitor``: watch a served model, and write its monitoring report.

    lockgate monitor NAME [--window 1h] [--once | --every 5m] [--config monitoring.yaml]
    lockgate monitor report NAME [--out DIR] [--json]
    lockgate monitor compare REF CUR [--model NAME@ALIAS] [--labels COLUMN] [--json]
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from lockgate.cli.app import console, print_json, settings
from lockgate.errors import LockgateError
from lockgate.monitoring.comparison import Comparison
from lockgate.monitoring.config import load_config
from lockgate.monitoring.duration import format_duration, parse_duration
from lockgate.monitoring.monitor import MonitorRun, repeat_passes, run_monitor, watch_forever
from lockgate.monitoring.report import monitoring_report, write_report
from lockgate.monitoring.server_pass import run_on_server, run_when_free, server_request
from lockgate.monitoring.watched_model import watch
from lockgate.store import Store
from lockgate.store.remote import Busy

USAGE = ("Use `lockgate monitor NAME [--window 1h] [--once | --every 5m]`, "
         "`lockgate monitor report NAME` or `lockgate monitor compare REF CUR "
         "[--model NAME@ALIAS]`.")


def monitor(
    target: list[str] = typer.Argument(..., metavar="NAME | report NAME | compare REF CUR",
                                       help="Model name or ref (churn, churn@production); "
                                            "or `report NAME`; or `compare REF CUR` (files "
                                            "or TABLE@VERSION, no server needed)."),
    window: str | None = typer.Option(None, "--window", "-w",
                                      help="Window length, e.g. 1h (rules with their own "
                                           "window keep it)."),
    once: bool = typer.Option(False, "--once", help="One pass, then exit (the default)."),
    every: str | None = typer.Option(None, "--every", help="Repeat every interval, e.g. 5m."),
    passes: int | None = typer.Option(None, "--passes", min=1,
                                      help="With --every: stop after this many passes."),
    config: Path | None = typer.Option(None, "--config", "-c",
                                       help="Monitoring YAML (rules, sinks)."),
    out: Path | None = typer.Option(None, "--out", "-o",
                                    help="report: folder for the HTML and JSON files."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    model: str | None = typer.Option(None, "--model", "-m", help="compare: score both "
                                     "datasets with this model (NAME@ALIAS)."),
    labels: str | None = typer.Option(None, "--labels", help="compare: column of CUR with "
                                      "ground truth (default: the contract's target)."),
) -> None:
    """Watch a served model's drift, performance, contract, latency and cost; or write
    its monitoring report (`lockgate monitor report NAME`)."""
    if target[0] == "compare":
        if len(target) != 3:
            raise LockgateError(f"`monitor compare` takes two datasets. {USAGE}")
        from lockgate.monitoring.comparison import compare

        result = compare(target[1], target[2], model=model, labels=labels,
                         settings=settings())
        if as_json:
            print_json(result.to_dict())
        else:
            render_comparison(result)
        return
    if target[0] == "report":
        if len(target) != 2:
            raise LockgateError(f"`monitor report` takes one model name. {USAGE}")
        _report(target[1], out, as_json)
        return
    if len(target) != 1:
        raise LockgateError(f"Unexpected arguments {' '.join(target[1:])!r}. {USAGE}")
    if once and every:
        raise LockgateError("Give either --once or --every, not both.")
    cfg = load_config(config, window=window)
    current = settings()
    store = Store.open(current)
    if getattr(store, "remote", False):
        _on_server(store, target[0], server_request(cfg) if config else {"window": window},
                   every, passes, cfg.window_seconds, as_json)
        return
    watched = watch(target[0], current)
    if every is None:
        with console.status(f"Monitoring {watched.name}...") as status:
            run = run_monitor(watched, settings=current, config=cfg,
                              progress=lambda message: status.update(
                                  f"Monitoring {watched.name}: {message}"))
        _render(run, cfg.window_seconds, as_json)
        return
    interval = parse_duration(every, where="--every")
    console.print(f"Watching [bold]{watched.name}[/] every {format_duration(interval)} "
                  "(Ctrl-C to stop).")
    watch_forever(watched, settings=current, config=cfg, every=interval, passes=passes,
                  on_pass=lambda run: _render(run, cfg.window_seconds, as_json),
                  reload=lambda: watch(target[0], current))


def _on_server(store: Store, ref: str, asked: dict[str, Any], every: str | None,
               passes: int | None, headline: float, as_json: bool) -> None:
    """The passes of ``lockgate monitor`` run by the server behind ``store`` (``asked``:
    the window or the config's data, :func:`server_request`)."""
    if every is None:
        with console.status(f"lockgate server is monitoring {ref}..."):
            run = run_on_server(store, ref, **asked)
        _render(run, headline, as_json)
        return
    interval = parse_duration(every, where="--every")
    console.print(f"lockgate server watches [bold]{ref}[/] every "
                  f"{format_duration(interval)} (Ctrl-C to stop).")
    def waiting(busy: Busy) -> None:
        console.print(f"  {busy} Asking again in {format_duration(busy.retry_after)}.")

    repeat_passes(lambda _done: run_when_free(store, ref, on_wait=waiting, **asked),
                  every=interval, passes=passes,
                  on_pass=lambda run: _render(run, headline, as_json))


def _report(name: str, out: Path | None, as_json: bool) -> None:
    current = settings()
    store = Store.open(current)
    if as_json and out is None:
        print_json(monitoring_report(store, name))
        return
    folder = out or Path(current.home) / "reports"
    html_path, json_path = write_report(store, name, folder)
    if as_json:
        print_json({"html": str(html_path), "json": str(json_path)})
        return
    console.print(f"Monitoring report of [bold]{name}[/]: {html_path}\n  JSON: {json_path}")


def _render(result: MonitorRun, headline: float, as_json: bool) -> None:
    if as_json:
        print_json(result.to_dict())
        return
    window = result.windows[headline]
    when = dt.datetime.fromtimestamp(window.end, tz=dt.UTC).isoformat(timespec="minutes")
    console.rule(f"{result.model_name}: {format_duration(window.end - window.start)} window "
                 f"to {when} - {window.n_predictions} predictions, {window.n_labeled} labeled")
    table = Table(title="Measures")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in window.measures.items():
        table.add_row(name, "-" if value is None else f"{value:.4g}")
    console.print(table)
    rules = Table(title="Rules")
    for column in ("rule", "state", "value", "threshold", "n", "action"):
        rules.add_column(column)
    for report in result.rules:
        o = report.outcome
        rules.add_row(report.rule.name, o.state, "-" if o.value is None else f"{o.value:.4g}",
                      f"{o.op} {o.threshold:g}", str(o.samples), report.action)
    console.print(rules)
    for report in result.alerts:
        incident = report.incident
        summary = incident.root_cause.get("summary", "") if incident else ""
        console.print(f"[bold red]ALERT[/] {report.rule.name}: {summary}")
        if report.retraining:
            console.print(f"  retraining: {report.retraining['decision']['reason']}")
    for report in result.resolved:
        console.print(f"[green]RESOLVED[/] {report.rule.name}")


def render_comparison(result: Comparison) -> None:
    """The offline report: drift per feature, predictions, contract, performance."""
    console.rule(f"{result.current} vs {result.reference}"
                 + (f" with {result.model}" if result.model else ""))
    table = Table(title=f"Drift ({result.rows_current:,} vs {result.rows_reference:,} rows)")
    for column in ("feature", "kind", "PSI", "drifted"):
        table.add_column(column)
    for row in sorted(result.drift, key=lambda r: (not r["drifted"], -r["psi"])):
        table.add_row(row["name"], str(row["kind"]), f"{row['psi']:.3f}",
                      "[red]yes[/]" if row["drifted"] else "")
    console.print(table)
    if result.performance.get("metrics"):
        console.print("  live metrics on the labeled rows: " + ", ".join(
            f"{k} {v:.3f}" for k, v in result.performance["metrics"].items()))
    console.print(f"  {result.summary()}")
