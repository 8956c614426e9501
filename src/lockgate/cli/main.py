"""Entry point of the ``lockgate`` command: registers the command groups and turns
lockgate errors into one clear message and a non-zero exit, never a traceback."""

from __future__ import annotations

import sys
import traceback

import typer

from lockgate import __version__
from lockgate.cli import db, quickstart, runs
from lockgate.cli.app import app, err_console, set_debug
from lockgate.errors import LockgateError

app.add_typer(runs.app, name="runs")
app.add_typer(db.app, name="db")
app.command("quickstart")(quickstart.quickstart)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lockgate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
) -> None:
    """Machine-learning pipelines that cannot quietly go wrong."""
    set_debug(debug)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; lockgate errors exit 1 with the message only (``--debug`` for more)."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        app(args=args, standalone_mode=False)
    except LockgateError as exc:
        if debug:
            traceback.print_exc()
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        return 1
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        err_console.print("Aborted.")
        return 130
    except KeyboardInterrupt:
        err_console.print("Interrupted.")
        return 130
    except Exception as exc:  # click usage errors and anything unexpected
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        if debug:
            raise
        err_console.print(
            f"[bold red]unexpected error:[/] {type(exc).__name__}: {exc}\n"
            "Run again with `lockgate --debug ...` for the traceback, and report it.",
            highlight=False,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
