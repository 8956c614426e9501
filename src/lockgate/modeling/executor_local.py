"""The local fold executor: outer folds one after another in this process."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from lockgate.modeling.nested_cv import FoldResult, FoldTask, SearchSpec, run_fold


def run_folds(tasks: Sequence[FoldTask], pipeline: Any, x: pd.DataFrame, y: np.ndarray,
              problem_type: str, spec: SearchSpec,
              progress: Callable[[FoldResult], None] | None = None) -> list[FoldResult]:
    """Run every outer fold here, reporting each as it finishes."""
    results = []
    for task in tasks:
        result = run_fold(task, pipeline, x, y, problem_type, spec)
        if progress is not None:
            progress(result)
        results.append(result)
    return results
