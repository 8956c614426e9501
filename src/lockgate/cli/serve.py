"""``lockgate serve NAME[@ALIAS]``: the prediction API for a registered model."""

from __future__ import annotations

import typer

from lockgate.cli.app import settings
from lockgate.serving import ServeConfig, serve


def serve_cmd(
    ref: str = typer.Argument(..., help="NAME, NAME@ALIAS (followed) or NAME@VERSION (pinned)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; anything but "
                             "localhost needs LOCKGATE_SERVE_TOKEN or --insecure."),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    workers: int = typer.Option(1, "--workers", min=1, help="uvicorn worker processes."),
    insecure: bool = typer.Option(False, "--insecure", help="Allow a non-local host without "
                                  "a token (prints a warning)."),
    allow_unknown_fields: bool = typer.Option(False, "--allow-unknown-fields",
                                              help="Ignore fields outside the contract "
                                              "instead of answering 422."),
    max_body_bytes: int = typer.Option(1 << 20, "--max-body-bytes", min=1024),
    poll_seconds: float = typer.Option(2.0, "--poll-seconds", min=0.1,
                                       help="How often the alias is checked."),
    no_log: bool = typer.Option(False, "--no-prediction-log", help="Do not log predictions "
                                "(monitoring will see nothing; for benchmarks)."),
    access_log: bool = typer.Option(False, "--access-log/--no-access-log",
                                    help="One line per request on stderr (off by default: "
                                    "at thousands of requests a second it is the "
                                    "metrics' job)."),
) -> None:
    """Serve a registered model over HTTP (POST /predict, /feedback; GET /health, /model,
    /metrics, /docs)."""
    config = ServeConfig(ref=ref, host=host, port=port, insecure=insecure,
                         allow_unknown_fields=allow_unknown_fields,
                         max_body_bytes=max_body_bytes, poll_seconds=poll_seconds,
                         log_predictions=not no_log, announce=True,
                         access_log=access_log)
    serve(config, workers=workers, settings=settings())
