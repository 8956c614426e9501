"""What the quickstart's sections share: settings, store, console, a work folder and
the results earlier sections left for later ones."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from lockgate.config import Settings
from lockgate.store import Store


@dataclass(slots=True)
class DemoContext:
    """Shared state of one quickstart run."""

    settings: Settings
    store: Store
    console: Console
    workdir: Path
    results: dict[str, Any] = field(default_factory=dict)
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def on_exit(self, cleanup: Callable[[], None]) -> None:
        """Run ``cleanup`` when the quickstart ends, even on an error (e.g. stop a server
        that later sections still use)."""
        self.cleanups.append(cleanup)

    def heading(self, title: str) -> None:
        """Print a section heading."""
        self.console.rule(f"[bold]{title}")

    def hint(self, text: str, command: str) -> None:
        """Print how to look at something, with the exact command."""
        self.console.print(f"  {text}: [bold cyan]{command}[/]")
