"""The root Typer app, the shared console, and error rendering without tracebacks."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.console import Console

from lockgate.config import Settings, load_settings

console = Console()
err_console = Console(stderr=True)

app = typer.Typer(
    name="lockgate",
    help="Machine-learning pipelines that cannot quietly go wrong.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

_STATE: dict[str, Any] = {"debug": False}


def settings() -> Settings:
    """Settings for a command (env and lockgate.yaml; flags are applied by each command)."""
    return load_settings()


def debug_enabled() -> bool:
    """Whether ``--debug`` was given (show tracebacks)."""
    return bool(_STATE["debug"])


def set_debug(value: bool) -> None:
    _STATE["debug"] = value


def print_json(value: Any) -> None:
    """Print machine-readable output (NaN/inf as JSON-compatible strings)."""
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")
