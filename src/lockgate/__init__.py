"""lockgate: machine-learning pipelines that cannot quietly go wrong.

The tracking and pipeline APIs are imported with the package; the stages
(``lg.data``, ``lg.quality``, ``lg.modeling``, ...) are imported on first use, because
they pull in Polars, deltalake and scikit-learn and the command line must start fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from lockgate.config import Settings, load_settings
from lockgate.errors import LockgateError
from lockgate.pipelines import Pipeline, node, run_pipeline, step
from lockgate.tracking import Run, active_run, start_run

__version__ = "0.1.0"

#: Stage subpackages reachable as ``lockgate.<stage>`` without importing them up front.
STAGES = ("pipelines", "data", "quality", "modeling", "registry", "serving", "monitoring", "ui")

__all__ = [
    "STAGES",
    "LockgateError",
    "Pipeline",
    "Run",
    "Settings",
    "__version__",
    "active_run",
    "audit",
    "compare_runs",
    "get_run",
    "load_settings",
    "node",
    "run_pipeline",
    "search_runs",
    "start_run",
    "step",
]

#: Readers of past runs, imported on first use (they pull in Polars).
READERS = ("compare_runs", "get_run", "search_runs")


def __getattr__(name: str) -> Any:
    if name in STAGES:
        return importlib.import_module(f"lockgate.{name}")
    if name in READERS:
        return getattr(importlib.import_module("lockgate.tracking"), name)
    if name == "audit":  # ``lg.audit(workflow, data, target=...)``: the modeling stage's audit
        return importlib.import_module("lockgate.modeling.audit").audit
    raise AttributeError(f"module 'lockgate' has no attribute {name!r}")
