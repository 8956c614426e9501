"""The quickstart's order of sections, following the flow of the design."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from lockgate.config import Settings
from lockgate.demo import (
    data,
    modeling,
    monitoring,
    pipelines,
    quality,
    registry,
    retention,
    server,
    tracking,
    ui,
)
from lockgate.demo.context import DemoContext
from lockgate.store import Store
from lockgate.tracking import progress
from lockgate.tracking.progress import rich_progress

#: Sections in the order of the flow; each stage appends its own.
SECTIONS: list[tuple[str, Callable[[DemoContext], None]]] = [
    ("tracking", tracking.run),
    ("pipelines", pipelines.run),
    ("data", data.run),
    ("quality", quality.run),
    ("modeling", modeling.run),
    ("registry", registry.run),
    ("monitoring", monitoring.run),
    ("ui", ui.run),
    ("retention", retention.run),
    ("server", server.run),
]


def run_quickstart(settings: Settings, console: Console, *,
                   only: list[str] | None = None, quiet: bool = False) -> DemoContext:
    """Run every section (or only the named ones) against the given settings.

    Each section is a progress task (a bar with elapsed time on a terminal, and its
    inner work's bars beneath it); the end shows the time each section took.
    """
    store = Store.open(settings)
    workdir = Path(settings.home).resolve() / "quickstart"
    workdir.mkdir(parents=True, exist_ok=True)
    ctx = DemoContext(settings=settings, store=store, console=console, workdir=workdir)
    chosen = [(n, s) for n, s in SECTIONS if not only or n in only]
    try:
        with rich_progress(quiet=quiet), progress.task(
                "quickstart", total=len(chosen), unit="sections") as overall:
            for name, section in chosen:
                started = time.perf_counter()
                try:
                    with progress.task(f"section {name}"):
                        section(ctx)
                finally:
                    ctx.section_seconds[name] = time.perf_counter() - started
                overall.advance()
    finally:
        for cleanup in reversed(ctx.cleanups):
            cleanup()
        if ctx.section_seconds:
            console.print(section_times(ctx.section_seconds))
    console.rule("[bold green]quickstart finished")
    return ctx


def section_times(seconds: dict[str, float]) -> Table:
    """How long each section took, and the total (printed even when a section failed)."""
    table = Table(title="Time per section")
    table.add_column("section")
    table.add_column("seconds", justify="right")
    for name, value in seconds.items():
        table.add_row(name, f"{value:.1f}")
    table.add_row("[bold]total[/]", f"[bold]{sum(seconds.values()):.1f}[/]")
    return table
