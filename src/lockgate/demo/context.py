"""What the quickstart's sections share: settings, store, console, a work folder and
the results earlier sections left for later ones."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from lockgate.config import Settings
from lockgate.errors import LockgateError
from lockgate.store import Store


class QuickstartError(LockgateError, RuntimeError):
    """An outcome the quickstart shows did not happen: the story is broken, say where."""

    headline = "The quickstart's story broke"

    def __init__(self, section: str, expected: str, found: str) -> None:
        self.section, self.expected, self.found = section, expected, found
        super().__init__(f"quickstart section `{section}`: expected {expected}, "
                         f"but {found}.")


@dataclass(slots=True)
class DemoContext:
    """Shared state of one quickstart run."""

    settings: Settings
    store: Store
    console: Console
    workdir: Path
    results: dict[str, Any] = field(default_factory=dict)
    cleanups: list[Callable[[], None]] = field(default_factory=list)
    #: Wall seconds each section took, in the order they ran.
    section_seconds: dict[str, float] = field(default_factory=dict)

    def on_exit(self, cleanup: Callable[[], None]) -> None:
        """Run ``cleanup`` when the quickstart ends, even on an error (e.g. stop a server
        that later sections still use)."""
        self.cleanups.append(cleanup)

    def expect(self, condition: bool, section: str, expected: str, found: str) -> None:
        """Check one outcome the section shows; raise :class:`QuickstartError` naming the
        section when it did not happen, so the quickstart never exits 0 on a broken story.

        Example: ``ctx.expect(prod == better, "registry", "the better model promoted",
        f"production is v{prod}")``.
        """
        if not condition:
            raise QuickstartError(section, expected, found)

    def heading(self, title: str) -> None:
        """Print a section heading."""
        self.console.rule(f"[bold]{title}")

    def hint(self, text: str, command: str) -> None:
        """Print how to look at something, with the exact command."""
        self.console.print(f"  {text}: [bold cyan]{command}[/]")
