"""Quickstart section: how to open the dashboard, and what each page shows for the demo."""

from __future__ import annotations

from lockgate.demo.context import DemoContext
from lockgate.ui.pages.models import registered_count
from lockgate.ui.pages.pipelines import pipeline_count

URL = "http://127.0.0.1:5000"


def run(ctx: DemoContext) -> None:
    """Print the ``lockgate ui`` command and a line per page about the demo's records."""
    ctx.heading("Dashboard")
    store = ctx.store
    runs = store.count_runs()
    tables = store.dataset_tables()
    run_id = ctx.results.get("tracking_run_id")
    pages = [
        ("Runs", f"{URL}/", f"{runs} runs; filter with e.g. `metrics.val_roc_auc >= 0.9`, "
                            "sort by any column, tick 2-10 runs to compare"),
        ("Run", f"{URL}/runs/{run_id}" if run_id else f"{URL}/runs/<id>",
         "params, metrics, learning curves, logged charts, artifacts to download, console, "
         "hardware, code version, environment and notes"),
        ("Pipelines", f"{URL}/pipelines",
         f"{pipeline_count(store)} pipeline runs: step tree, durations, cache hits, errors, "
         "and each run's lineage graph"),
        ("Data", f"{URL}/data", f"{len(tables)} tables ({', '.join(tables) or 'none yet'}): "
                                "versions, checks, quarantine by reason, drift"),
        ("Models", f"{URL}/models", f"{registered_count(store)} registered versions: "
                                    "stages, gate history, model card, evaluation charts"),
        ("Monitoring", f"{URL}/monitoring",
         "prediction windows over time, drift per feature, live performance, alerts"),
    ]
    ctx.console.print("  Open the dashboard (read-only, bound to 127.0.0.1):")
    ctx.console.print("    [bold cyan]lockgate ui[/]  then browse " + URL)
    for name, address, what in pages:
        ctx.console.print(f"  [bold]{name}[/] {address}: {what}")
    ctx.console.print("  To add notes from the browser: [bold cyan]export LOCKGATE_UI_TOKEN="
                      "$(python -c 'import secrets; print(secrets.token_urlsafe(24))')[/] "
                      "before `lockgate ui`.")
    ctx.results["ui_command"] = "lockgate ui"
