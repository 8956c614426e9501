"""``lockgate quickstart``: the whole path on embedded defaults, end to end."""

from __future__ import annotations

import typer

from lockgate.cli.app import console, settings


def quickstart(
    only: list[str] = typer.Option([], "--only", help="Run only these sections."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars (they are "
                               "also off when stderr is not a terminal)."),
) -> None:
    """Run the end-to-end demonstration on embedded defaults (SQLite, local files)."""
    from lockgate.demo.quickstart import run_quickstart  # heavy: only when run

    run_quickstart(settings(), console, only=only or None, quiet=quiet)
