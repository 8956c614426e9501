"""The Ray fold executor: outer folds as Ray tasks, the frame shared once via the object
store.

Uses the Ray cluster already initialised in this process (``ray.init(...)`` by the
caller, e.g. a local cluster or ``address="auto"``); when none is, a local one is
started for the call and shut down afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from lockgate.errors import LockgateError
from lockgate.modeling.nested_cv import FoldResult, FoldTask, SearchSpec, run_fold


class RayExecutorError(LockgateError, RuntimeError):
    """Ray is missing or a fold failed on the cluster."""


def run_folds(tasks: Sequence[FoldTask], pipeline: Any, x: pd.DataFrame, y: np.ndarray,
              problem_type: str, spec: SearchSpec,
              progress: Callable[[FoldResult], None] | None = None) -> list[FoldResult]:
    """Run the outer folds as Ray tasks; results come back in fold order."""
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - ray is installed in dev
        raise RayExecutorError(
            "executor='ray' needs Ray: pip install 'lockgate[ray]'."
        ) from exc
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(include_dashboard=False, log_to_driver=False)
    try:
        remote = ray.remote(num_cpus=1)(run_fold)
        shared = (ray.put(pipeline), ray.put(x), ray.put(y))
        refs = [remote.remote(task, *shared, problem_type, spec) for task in tasks]
        by_ref = {}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            try:
                result = ray.get(done[0])
            except ray.exceptions.RayTaskError as exc:
                raise RayExecutorError(f"A fold failed on Ray: {exc.cause!r}") from exc
            by_ref[done[0]] = result
            if progress is not None:
                progress(result)
        return [by_ref[r] for r in refs]
    finally:
        if started_here:
            ray.shutdown()
