"""Runs: params, metrics, artifacts, notes, console capture, hardware sampling, and
code and environment capture."""

from lockgate.tracking.autolog import autolog
from lockgate.tracking.run import Run, active_run, start_run

__all__ = ["Run", "active_run", "autolog", "start_run"]
