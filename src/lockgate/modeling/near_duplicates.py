"""Near-duplicate rows: repeated measurements of one entity with no id column, and copies
made by oversampling before the split, clustered into groups the splitter keeps together.

The test is local and scale-free. For each row, its ``j``-th neighbour's distance ``dj``
is compared with its ``k``-th neighbour's ``dk``. If rows were drawn independently from a
locally smooth density of intrinsic dimension ``m``, ``(dj/dk)**m`` would follow
Beta(j, k-j), so each pair gets a p-value; a pair below ``alpha`` is a copy, and the
copies of one row (up to ``k - 1`` of them) are joined into one cluster. The dimension
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
PROJECTED = 32


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

    Columns are scaled by their interquartile range (robust to outliers); more than 32
    columns are randomly projected to 32 (Johnson-Lindenstrauss), so the cost stays
    linear in columns; exact copies (distance 0) are near-duplicates by definition.
    """
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if n < 3 * k or n > max_rows or x.shape[1] == 0:
        return None
    x = _scaled(x)
    if x.shape[1] > PROJECTED:  # wide tables: a random projection keeps near rows near
        basis = np.random.default_rng(0).standard_normal((x.shape[1], PROJECTED))
        x = x @ (basis / np.sqrt(PROJECTED))
    distances, neighbours = NearestNeighbors(n_neighbors=2 * k + 1).fit(x).kneighbors(x)
    distances, neighbours = distances[:, 1:], neighbours[:, 1:]  # drop self
    dim = _dimension(distances, k)
    dk = distances[:, k - 1:k]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(dk > 0, distances[:, :k - 1] / dk, 1.0)
    # the j-th of k neighbours: (d_j / d_k)**m ~ Beta(j, k - j) under independence
    j = np.arange(1, k)
    p_pair = stats.beta.cdf(ratio ** dim, j, k - j)
    close = (p_pair < alpha) | (distances[:, :k - 1] == 0)
    hit = close.any(axis=1)
    flagged = int(hit.sum())
    expected = alpha * n * (k - 1)
    p_value = float(stats.binomtest(flagged, n, min(1.0, alpha * (k - 1)),
                                    alternative="greater").pvalue)
    groups = _components(n, neighbours[:, :k - 1], close)
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


def _components(n: int, neighbours: np.ndarray, close: np.ndarray) -> np.ndarray:
    """Connected components of the implausibly close pairs (union-find)."""
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(close), strict=True):
        a, b = find(int(i)), find(int(neighbours[i, j]))
        if a != b:
            parent[a] = b
    return np.fromiter((find(i) for i in range(n)), np.int64, n)
