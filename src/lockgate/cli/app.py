"""What every command shares: the consoles, settings, and JSON output."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from rich.console import Console

from lockgate.config import Settings, load_settings

console = Console()
err_console = Console(stderr=True)

def settings() -> Settings:
    """Settings for a command (env and lockgate.yaml; flags are applied by each command)."""
    return load_settings()


def print_json(value: Any) -> None:
    """Print machine-readable output: valid JSON always, so NaN and ±inf (which JSON
    lacks) are written as the strings "nan", "inf" and "-inf"."""
    sys.stdout.write(
        json.dumps(json_safe(value), indent=2, sort_keys=True, default=str, allow_nan=False)
        + "\n"
    )


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats replaced by their names, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
