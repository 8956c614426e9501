"""``lockgate quickstart``: the whole path on embedded defaults, end to end."""

from __future__ import annotations

import typer

from lockgate.cli.app import console, settings


def quickstart(
    only: list[str] = typer.Option([], "--only", help="Run only these sections."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars (they are "
                               "also off when stderr is not a terminal)."),
    server: bool = typer.Option(False, "--server", help="Start `lockgate server` on "
                                "127.0.0.1 over the same store, with a fresh admin token, "
                                "and run every section through it."),
) -> None:
    """Run the end-to-end demonstration on embedded defaults (SQLite, local files), or
    with ``--server`` through a team server on 127.0.0.1."""
    if server:
        from lockgate.demo.served import run_served_quickstart  # heavy: only when run

        run_served_quickstart(settings(), console, only=only or None, quiet=quiet)
        return
    from lockgate.demo.quickstart import run_quickstart  # heavy: only when run

    run_quickstart(settings(), console, only=only or None, quiet=quiet)
