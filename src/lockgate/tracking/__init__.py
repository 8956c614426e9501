"""Runs: params, metrics, artifacts, notes, console capture, hardware sampling, and
code and environment capture; reading past runs back (``search_runs``, ``get_run``).

The readers are imported on first use: they pull in Polars, which the command line's
start-up does not need.
"""

from __future__ import annotations

import importlib
from typing import Any

from lockgate.tracking.autolog import autolog
from lockgate.tracking.run import Run, active_run, start_run

#: Public names imported on first use, ``name -> module``.
LAZY = {
    "search_runs": "lockgate.tracking.search",
    "get_run": "lockgate.tracking.run_view",
    "compare_runs": "lockgate.tracking.run_view",
    "RunView": "lockgate.tracking.run_view",
    "RunComparison": "lockgate.tracking.run_view",
    "SavedView": "lockgate.tracking.saved_view",
    "save_view": "lockgate.tracking.saved_view",
    "get_view": "lockgate.tracking.saved_view",
    "list_views": "lockgate.tracking.saved_view",
    "delete_view": "lockgate.tracking.saved_view",
}

__all__ = ["Run", "RunComparison", "RunView", "SavedView", "active_run", "autolog",
           "compare_runs", "delete_view", "get_run", "get_view", "list_views", "save_view",
           "search_runs", "start_run"]


def __getattr__(name: str) -> Any:
    if name in LAZY:
        return getattr(importlib.import_module(LAZY[name]), name)
    raise AttributeError(f"module 'lockgate.tracking' has no attribute {name!r}")
