"""lockgate: machine-learning pipelines that cannot quietly go wrong."""

from lockgate.config import Settings, load_settings
from lockgate.errors import LockgateError
from lockgate.tracking import Run, active_run, start_run

__version__ = "0.1.0"

__all__ = [
    "LockgateError",
    "Run",
    "Settings",
    "__version__",
    "active_run",
    "load_settings",
    "start_run",
]
