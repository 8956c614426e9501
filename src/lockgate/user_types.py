"""The shapes of what user code hands lockgate: tables (a Polars or pandas frame),
estimators and splitters (scikit-learn's contracts). Named once here so public signatures say what
they take instead of ``Any``; the libraries themselves are not imported at run time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol, TypeAlias

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import polars as pl

#: A table from user code: Polars, or pandas (converted with ``pl.from_pandas``).
FrameLike: TypeAlias = "pl.DataFrame | pd.DataFrame"


class Estimator(Protocol):
    """scikit-learn's estimator contract as lockgate relies on it: an estimator, a
    ``Pipeline`` or a search that reports its parameters (it is cloned, then fitted)."""

    def get_params(self, deep: bool = True) -> dict[str, object]:
        """The estimator's constructor parameters."""
        ...


class Splitter(Protocol):
    """scikit-learn's cross-validation contract: ``split`` yields train/test indices."""

    def split(self, X: object, y: object = None, groups: object = None) -> Iterator[
            tuple[np.ndarray, np.ndarray]]:
        """Train and test row indices, one pair per fold."""
        ...
