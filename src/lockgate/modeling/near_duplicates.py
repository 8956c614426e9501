"""Near-duplicate rows: repeated measurements of one entity with no id column, and copies
made by oversampling before the split, clustered into groups the splitter keeps together.

The test is local and scale-free. For each row, its nearest neighbour's distance ``d1``
is compared with its ``k``-th neighbour's ``dk``. If rows were drawn independently from a
locally smooth density of intrinsic dimension ``m``, ``(d1/dk)**m`` would follow
Beta(1, k-1), so each row gets a p-value ``1 - (1 - (d1/dk)**m)**(k-1)``. The dimension
is estimated (Levina-Bickel) from neighbours ``k..2k``, beyond any small group of copies,
so the copies do not hide themselves. A row is a near-duplicate when its p-value is
below ``alpha``; the table has repeated entities when the count of such rows is far
above the ``alpha * n`` expected by chance (binomial test).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats
from sklearn.neighbors import NearestNeighbors

K = 10
ALPHA = 1e-4


@dataclass(frozen=True, slots=True)
class NearDuplicates:
    """Clusters of near-identical rows and the evidence that they are not chance."""

    groups: np.ndarray       # one cluster id per row (singletons get their own id)
    flagged: int             # rows whose nearest neighbour is implausibly close
    expected: float          # rows expected by chance
    p_value: float
    dimension: float         # estimated intrinsic dimension
    rows: int

    @property
    def significant(self) -> bool:
        return self.p_value < 1e-3 and self.flagged >= max(5, 0.02 * self.rows)

    @property
    def clusters(self) -> int:
        _, counts = np.unique(self.groups, return_counts=True)
        return int((counts > 1).sum())


def near_duplicates(x: np.ndarray, *, k: int = K, alpha: float = ALPHA,
                    max_rows: int = 50_000) -> NearDuplicates | None:
    """Cluster near-identical rows of a numeric matrix (None when too small to judge).

    Columns are scaled by their interquartile range (robust to outliers); exact copies
    (distance 0) are near-duplicates by definition.
    """
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if n < 3 * k or n > max_rows or x.shape[1] == 0:
        return None
    x = _scaled(x)
    distances, neighbours = NearestNeighbors(n_neighbors=2 * k + 1).fit(x).kneighbors(x)
    distances, neighbours = distances[:, 1:], neighbours[:, 1:]  # drop self
    dim = _dimension(distances, k)
    d1, dk = distances[:, 0], distances[:, k - 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(dk > 0, d1 / dk, np.where(d1 == 0, 0.0, 1.0))
    p_row = 1.0 - (1.0 - ratio ** dim) ** (k - 1)
    hit = (p_row < alpha) | (d1 == 0)
    flagged = int(hit.sum())
    expected = alpha * n
    p_value = float(stats.binomtest(flagged, n, alpha, alternative="greater").pvalue)
    groups = _components(n, neighbours, distances, hit, dk)
    return NearDuplicates(groups, flagged, expected, p_value, float(dim), n)


def _scaled(x: np.ndarray) -> np.ndarray:
    x = np.where(np.isnan(x), np.nanmedian(x, axis=0), x)
    x = np.where(np.isnan(x), 0.0, x)
    q75, q25 = np.percentile(x, [75, 25], axis=0)
    scale = q75 - q25
    scale = np.where(scale > 0, scale, x.std(axis=0))
    scale = np.where(scale > 0, scale, 1.0)
    return (x - np.median(x, axis=0)) / scale


def _dimension(distances: np.ndarray, k: int) -> float:
    """Levina-Bickel intrinsic dimension from neighbours k..2k (median over rows)."""
    far = distances[:, k - 1:2 * k]       # neighbours k .. 2k
    ok = far[:, 0] > 0
    if not ok.any():
        return 1.0
    logs = np.log(far[ok, -1:] / far[ok, :-1]).sum(axis=1)
    # under a local Poisson process E[log(T_2k / T_j)] = (H_{2k-1} - H_{j-1}) / m
    j = np.arange(k, 2 * k)
    expected = np.array([np.sum(1.0 / np.arange(i, 2 * k)) for i in j]).sum()
    estimates = expected / logs[logs > 0]
    return float(np.clip(np.median(estimates), 1.0, 50.0)) if estimates.size else 1.0


def _components(n: int, neighbours: np.ndarray, distances: np.ndarray, hit: np.ndarray,
                dk: np.ndarray) -> np.ndarray:
    """Union of each flagged row with every neighbour as close as its nearest one
    (within a tenth of its k-th neighbour distance)."""
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in np.flatnonzero(hit):
        limit = max(distances[i, 0], 0.1 * dk[i])
        for j, d in zip(neighbours[i], distances[i], strict=True):
            if d > limit:
                break
            a, b = find(i), find(int(j))
            if a != b:
                parent[a] = b
    return np.fromiter((find(i) for i in range(n)), np.int64, n)
