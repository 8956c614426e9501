"""The quickstart's order of sections, following the flow of the design."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from lockgate.config import Settings
from lockgate.demo import data, modeling, monitoring, pipelines, quality, registry, tracking, ui
from lockgate.demo.context import DemoContext
from lockgate.store import Store

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
]


def run_quickstart(settings: Settings, console: Console, *,
                   only: list[str] | None = None) -> DemoContext:
    """Run every section (or only the named ones) against the given settings."""
    store = Store.open(settings)
    workdir = Path(settings.home).resolve() / "quickstart"
    workdir.mkdir(parents=True, exist_ok=True)
    ctx = DemoContext(settings=settings, store=store, console=console, workdir=workdir)
    try:
        for name, section in SECTIONS:
            if only and name not in only:
                continue
            section(ctx)
    finally:
        for cleanup in reversed(ctx.cleanups):
            cleanup()
    console.rule("[bold green]quickstart finished")
    return ctx
