"""Entry point of the ``lockgate`` command: the command groups (imported lazily, so the
command line starts fast) and the turning of lockgate errors into one clear message and
a non-zero exit, never a traceback."""

from __future__ import annotations

import sys
import traceback
from typing import Any

import click

from lockgate import __version__
from lockgate.cli.lazy_group import LazyCommand, LazyGroup
from lockgate.errors import LockgateError

#: Every command, in the order of the flow: ``name -> module:attribute, one-line help``.
COMMANDS: dict[str, LazyCommand] = {
    "quickstart": LazyCommand("lockgate.cli.quickstart:quickstart",
                              "Run the end-to-end demonstration on embedded defaults."),
    "runs": LazyCommand("lockgate.cli.runs:app",
                        "Tracked runs: list, show, compare, delete, restore."),
    "artifacts": LazyCommand("lockgate.cli.artifacts:app",
                             "A run's artifacts: list, get (hash-verified files)."),
    "run": LazyCommand("lockgate.cli.run:run",
                       "Run a pipeline: every step a recorded child run, unchanged steps "
                       "cached."),
    "pipelines": LazyCommand("lockgate.cli.pipelines:app", "Pipeline runs: list, show, resume."),
    "schedule": LazyCommand("lockgate.cli.schedule:app", "Cron schedules of pipelines."),
    "scheduler": LazyCommand("lockgate.cli.schedule:scheduler",
                             "Start due pipeline runs; schedulers may share a store."),
    "lineage": LazyCommand("lockgate.cli.lineage:lineage_command",
                           "What a run or artifact came from and what was made from it."),
    "contract": LazyCommand("lockgate.cli.contract:app",
                            "Data contracts: infer a draft, check a file."),
    "ingest": LazyCommand("lockgate.cli.ingest:app",
                          "Ingest files, SQL, HTTP or Redis streams into versioned tables."),
    "data": LazyCommand("lockgate.cli.data:app",
                        "Versioned tables: list, versions, show, quarantine, report."),
    "quality": LazyCommand("lockgate.cli.quality:app",
                           "Data quality: reports and profiles of dataset versions."),
    "train": LazyCommand("lockgate.cli.models_train:train_command",
                         "Train on a validated table with leak-free, structure-aware "
                         "evaluation."),
    "audit": LazyCommand("lockgate.cli.audit:audit_command",
                         "Audit your own workflow: leakage findings and the honest score "
                         "next to the claimed one."),
    "models": LazyCommand("lockgate.cli.models:app",
                          "Model registry: versions, stages, gated promotion, rollback."),
    "serve": LazyCommand("lockgate.cli.serve:serve_cmd",
                         "Serve a registered model over HTTP with prediction logging."),
    "predict": LazyCommand("lockgate.cli.predict:predict_command",
                           "Batch scoring: a file or table through the model's contract, "
                           "bad rows quarantined, predictions logged."),
    "monitor": LazyCommand("lockgate.cli.monitor:monitor",
                           "Watch a served model's drift, performance and cost; `monitor "
                           "report NAME`."),
    "ui": LazyCommand("lockgate.cli.ui:ui", "Serve the dashboard (127.0.0.1:5000)."),
    "db": LazyCommand("lockgate.cli.db:app", "Metadata store: migrations."),
    "gc": LazyCommand("lockgate.cli.gc:gc_command",
                      "Remove what nothing live references; `--dry-run` says why each kept "
                      "thing is kept."),
    "du": LazyCommand("lockgate.cli.gc:du_command",
                      "Space per experiment, table, model and prediction log."),
    "server": LazyCommand("lockgate.cli.server:app",
                          "The team server: users, roles, tokens; `server start`."),
    "audit-log": LazyCommand("lockgate.cli.audit_log:audit_log_command",
                             "Who changed what, when, from what to what."),
    "import": LazyCommand("lockgate.cli.imports:app",
                          "Import history from other tools: `import mlflow`."),
    "reproduce": LazyCommand("lockgate.cli.reproduce:reproduce_command",
                             "Re-execute a training run from its recorded code, data and "
                             "seeds; compare every output."),
}


def _version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"lockgate {__version__}")
        ctx.exit()


def _root(debug: bool) -> None:
    """``--debug`` is read by :func:`main` from the arguments, before click parses them."""


app = LazyGroup(
    name="lockgate",
    lazy=COMMANDS,
    help="Machine-learning pipelines that cannot quietly go wrong.",
    no_args_is_help=True,
    callback=_root,
    params=[
        click.Option(["--version"], is_flag=True, expose_value=False, is_eager=True,
                     callback=_version, help="Show the version and exit."),
        click.Option(["--debug"], is_flag=True, help="Show tracebacks on errors."),
    ],
)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; lockgate errors exit 1 with the message only (``--debug`` for more)."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        code = app.main(args=args, prog_name="lockgate", standalone_mode=False)
    except LockgateError as exc:
        if debug:
            traceback.print_exc()
        err_console().print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        return 1
    except KeyboardInterrupt:
        err_console().print("Interrupted.")
        return 130
    except Exception as exc:
        handled = _click_outcome(exc)
        if handled is not None:
            return handled
        if debug:
            raise
        err_console().print(
            f"[bold red]unexpected error:[/] {type(exc).__name__}: {exc}\n"
            "Run again with `lockgate --debug ...` for the traceback, and report it.",
            highlight=False,
        )
        return 2
    # With standalone_mode=False click returns an Exit's code instead of raising it.
    return code if isinstance(code, int) else 0


def err_console() -> Any:
    """The stderr console, imported only when there is an error to print (Rich and the
    settings it sits beside are not needed to show help or run a command)."""
    from lockgate.cli.app import err_console as console

    return console


def _click_outcome(exc: Exception) -> int | None:
    """Exit code for click's own exceptions (usage errors, --help exits, aborts).

    Typer vendors a copy of click, so its exceptions are not ``click``'s classes: they
    are recognised by class name, from either copy.
    """
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "Exit" in names:
        return int(getattr(exc, "exit_code", 0) or 0)
    if "Abort" in names:
        err_console().print("Aborted.")
        return 130
    if "ClickException" in names:
        exc.show()  # type: ignore[attr-defined]
        return int(getattr(exc, "exit_code", 2))
    return None


if __name__ == "__main__":
    sys.exit(main())
