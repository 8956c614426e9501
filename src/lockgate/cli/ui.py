"""``lockgate ui``: serve the dashboard (read-only; notes need LOCKGATE_UI_TOKEN)."""

from __future__ import annotations

import os

import typer

from lockgate.cli.app import console, settings
from lockgate.config import ensure_port_free
from lockgate.ui.access import TOKEN_ENV, AccessPolicy
from lockgate.ui.server import serve_dashboard


def ui(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; anything but "
                             "loopback needs LOCKGATE_UI_TOKEN or --insecure."),
    port: int = typer.Option(5000, "--port", min=0, max=65535, help="Port to listen on."),
    insecure: bool = typer.Option(False, "--insecure", help="Serve beyond loopback without a "
                                  "token (anyone who can reach it reads every run)."),
) -> None:
    """Serve the dashboard: runs, compare, pipelines, lineage, data, models, monitoring."""
    ensure_port_free(host, port)  # before the URL is announced
    token = os.environ.get(TOKEN_ENV) or None
    warning = AccessPolicy(host=host, token=token, insecure=insecure).check_start()
    if warning:
        console.print(f"[bold red]{warning}[/]")
    shown = f"[{host}]" if ":" in host else host
    console.print(f"lockgate dashboard on [bold cyan]http://{shown}:{port}/[/] (Ctrl+C stops)")
    if token is None:
        console.print(f"  read-only; to edit notes set {TOKEN_ENV} and restart.")
    serve_dashboard(settings(), host=host, port=port, insecure=insecure, token=token)
