"""Runs: params, metrics, artifacts, notes, console capture, hardware sampling, and
code and environment capture; reading past runs back (``search_runs``, ``get_run``).

Every public name is imported on first use: the writers pull in the artifact store
(NumPy, the model flavors) and the readers Polars, and the command line's start-up
(``lockgate runs list`` imports ``lockgate.tracking.search``) needs neither.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Eager, and light: the submodule has the function's name, so binding the function here
# keeps ``lockgate.tracking.autolog`` the function whoever imports the module first.
from lockgate.tracking.autolog import autolog

if TYPE_CHECKING:
    from lockgate.tracking.recorder import FlushReport
    from lockgate.tracking.run import Run, active_run, start_run
    from lockgate.tracking.run_view import RunComparison, RunView, compare_runs, get_run
    from lockgate.tracking.search import search_runs

#: Public names imported on first use, ``name -> module``.
LAZY = {
    "FlushReport": "lockgate.tracking.recorder",
    "Run": "lockgate.tracking.run",
    "active_run": "lockgate.tracking.run",
    "start_run": "lockgate.tracking.run",
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

__all__ = ["FlushReport", "Run", "RunComparison", "RunView", "SavedView", "active_run",
           "autolog", "compare_runs", "delete_view", "get_run", "get_view", "list_views",
           "save_view", "search_runs", "start_run"]


def __getattr__(name: str) -> Any:
    if name in LAZY:
        return getattr(importlib.import_module(LAZY[name]), name)
    raise AttributeError(f"module 'lockgate.tracking' has no attribute {name!r}")
