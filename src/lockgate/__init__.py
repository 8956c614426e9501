"""lockgate: machine-learning pipelines that cannot quietly go wrong.

Everything is imported on first use: the stages (``lg.data``, ``lg.quality``,
``lg.modeling``, ...) pull in Polars, deltalake and scikit-learn, and even the tracking
API pulls in SQLAlchemy and pydantic-settings (~1 s of imports on a busy machine), while
``lockgate --help`` must start in a fraction of that. ``import lockgate`` itself costs
only this module and ``errors``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lockgate.errors import LockgateError

if TYPE_CHECKING:
    from lockgate.config import Settings, load_settings
    from lockgate.pipelines import (  # type: ignore[no-redef]
        Pipeline,
        current_step,
        node,
        run_pipeline,
        step,
    )
    from lockgate.tracking import (  # type: ignore[no-redef]
        Run,
        active_run,
        autolog,
        compare_runs,
        get_run,
        search_runs,
        start_run,
    )

__version__ = "0.1.0"

#: Stage subpackages reachable as ``lockgate.<stage>`` without importing them up front
#: (private: ``lockgate.registry.STAGES`` is the public name, for a version's stages).
_SUBPACKAGES = ("pipelines", "data", "quality", "modeling", "registry", "serving",
                "monitoring", "ui", "retention")

__all__ = [
    "LockgateError",
    "Pipeline",
    "Run",
    "Settings",
    "__version__",
    "active_run",
    "audit",
    "autolog",
    "compare_runs",
    "current_step",
    "get_run",
    "load_settings",
    "node",
    "run_pipeline",
    "search_runs",
    "start_run",
    "step",
]


#: Names of the package's API and the module each is imported from on first use.
_LAZY = {
    "Settings": "lockgate.config", "load_settings": "lockgate.config",
    "Pipeline": "lockgate.pipelines", "node": "lockgate.pipelines",
    "run_pipeline": "lockgate.pipelines", "step": "lockgate.pipelines",
    "current_step": "lockgate.pipelines",
    "Run": "lockgate.tracking", "active_run": "lockgate.tracking",
    "start_run": "lockgate.tracking", "autolog": "lockgate.tracking",
    # readers of past runs (they pull in Polars when first used)
    "search_runs": "lockgate.tracking", "get_run": "lockgate.tracking",
    "compare_runs": "lockgate.tracking",
}


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"lockgate.{name}")
    if name == "audit":  # ``lg.audit(workflow, data, target=...)``: the modeling stage's audit
        return importlib.import_module("lockgate.modeling.audit").audit
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this hook
        return value
    raise AttributeError(f"module 'lockgate' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_SUBPACKAGES})
