"""Executors: where step attempts run (``local`` worker processes or ``ray`` tasks)."""

from lockgate.pipelines.executors.base import Executor, timeout_outcome
from lockgate.pipelines.executors.factory import make_executor
from lockgate.pipelines.executors.local import LocalExecutor

__all__ = ["Executor", "LocalExecutor", "make_executor", "timeout_outcome"]
