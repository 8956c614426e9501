"""Mergeable sketches behind a profile: a quantile sketch and a distinct-count sketch.

``QuantileSketch`` keeps a column's sorted values exactly while there are few distinct
ones (integers, flags, ratings), and otherwise a weighted sample of at most ``k``
points at evenly spaced ranks. Two sketches merge into a sketch of the union; the
absolute rank error of every query is tracked, so a reader always knows how far a
quantile or CDF value can be off (``rank_error / count``).

``DistinctSketch`` is a KMV ("k minimum values") sketch of 64-bit hashes: it is exact
below ``k`` distinct values and within about ``1/sqrt(k)`` relative error above, and it
merges by keeping the ``k`` smallest hashes of the union.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: Points kept by a quantile sketch; rank error is about 1 / (2 * k) per level of merge.
DEFAULT_K = 1024
#: Hashes kept by a distinct sketch; relative error about 1 / sqrt(k) (3 %).
DEFAULT_DISTINCT_K = 1024
_U64 = np.uint64


class QuantileSketch:
    """A mergeable summary of a numeric column's distribution.

    Treat instances as immutable values: every operation returns a new sketch.

    Attributes:
        values: sorted distinct points.
        weights: how many rows each point stands for (sums to ``count``).
        exact: True when ``values``/``weights`` are the column's exact value counts.
        rank_error: bound on the absolute rank error of any CDF or quantile query.
        k: most points kept after a compaction.
    """

    __slots__ = ("exact", "k", "rank_error", "values", "weights")

    def __init__(self, values: np.ndarray, weights: np.ndarray, *, exact: bool,
                 rank_error: float, k: int = DEFAULT_K) -> None:
        self.values = np.asarray(values, dtype=np.float64)
        self.weights = np.asarray(weights, dtype=np.float64)
        self.exact = exact
        self.rank_error = float(rank_error)
        self.k = int(k)

    # -- construction ----------------------------------------------------------

    @classmethod
    def from_sorted(cls, data: np.ndarray, k: int = DEFAULT_K) -> QuantileSketch:
        """Build from an ascending array without NaN (one linear pass)."""
        n = data.size
        if n == 0:
            return cls(np.empty(0), np.empty(0), exact=True, rank_error=0.0, k=k)
        starts = np.flatnonzero(np.concatenate(([True], data[1:] != data[:-1])))
        if starts.size <= k:
            counts = np.diff(np.append(starts, n))
            return cls(data[starts], counts, exact=True, rank_error=0.0, k=k)
        # Each point stands for one block of about n/k consecutive sorted values: the
        # block's middle element, so any rank query is off by at most half the largest
        # block (rounding makes blocks of n/k rounded up, e.g. 2 rows when n = 33, k = 32).
        bounds = np.linspace(0, n, k + 1)
        edges = np.round(bounds).astype(np.int64)
        sizes = np.diff(edges)
        middles = np.minimum((edges[:-1] + edges[1:]) // 2, n - 1)
        return cls._collapse(data[middles], sizes.astype(np.float64),
                             rank_error=float(sizes.max()) / 2.0, k=k)

    @classmethod
    def empty(cls, k: int = DEFAULT_K) -> QuantileSketch:
        """A sketch of no values."""
        return cls(np.empty(0), np.empty(0), exact=True, rank_error=0.0, k=k)

    @staticmethod
    def _collapse(values: np.ndarray, weights: np.ndarray, *, rank_error: float,
                  k: int, exact: bool = False) -> QuantileSketch:
        """Merge equal points so ``values`` is strictly increasing."""
        if values.size == 0:
            return QuantileSketch(values, weights, exact=exact, rank_error=rank_error, k=k)
        order = np.argsort(values, kind="stable")
        values, weights = values[order], weights[order]
        starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
        summed = np.add.reduceat(weights, starts)
        return QuantileSketch(values[starts], summed, exact=exact, rank_error=rank_error, k=k)

    # -- queries -----------------------------------------------------------------

    @property
    def count(self) -> float:
        """Rows summarised."""
        return float(self.weights.sum())

    def cdf(self, x: np.ndarray | float) -> np.ndarray:
        """Fraction of rows ``<= x`` (0 for an empty sketch)."""
        points = np.atleast_1d(np.asarray(x, dtype=np.float64))
        total = self.count
        if total == 0:
            return np.zeros_like(points)
        cumulative = np.concatenate(([0.0], np.cumsum(self.weights)))
        return cumulative[np.searchsorted(self.values, points, side="right")] / total

    def quantile(self, q: np.ndarray | float) -> np.ndarray:
        """Values at the given probabilities (lower interpolation between points)."""
        probs = np.clip(np.atleast_1d(np.asarray(q, dtype=np.float64)), 0.0, 1.0)
        if self.values.size == 0:
            return np.full_like(probs, np.nan)
        cumulative = np.cumsum(self.weights) / self.count
        index = np.searchsorted(cumulative, probs - 1e-12, side="left")
        return self.values[np.minimum(index, self.values.size - 1)]

    @property
    def relative_rank_error(self) -> float:
        """Rank error as a fraction of the rows (0 when exact)."""
        total = self.count
        return self.rank_error / total if total else 0.0

    # -- merging -----------------------------------------------------------------

    def merge(self, other: QuantileSketch) -> QuantileSketch:
        """The sketch of the union of both inputs' rows."""
        k = max(self.k, other.k)
        values = np.concatenate((self.values, other.values))
        weights = np.concatenate((self.weights, other.weights))
        merged = self._collapse(values, weights, rank_error=self.rank_error + other.rank_error,
                                k=k, exact=self.exact and other.exact)
        if merged.values.size <= k:
            return merged
        return merged._compact()

    def _compact(self) -> QuantileSketch:
        """Keep ``k`` points at evenly spaced ranks; adds half a block of rank error."""
        total = self.count
        cumulative = np.cumsum(self.weights)
        targets = (np.arange(self.k) + 0.5) * (total / self.k)
        index = np.minimum(np.searchsorted(cumulative, targets, side="left"),
                           self.values.size - 1)
        values = self.values[index]
        weights = np.full(self.k, total / self.k)
        return self._collapse(values, weights, rank_error=self.rank_error + total / self.k,
                              k=self.k)

    # -- serialisation -------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "k": self.k, "exact": self.exact, "rank_error": self.rank_error,
            "values": self.values.tolist(), "weights": self.weights.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuantileSketch:
        """Rebuild from :meth:`to_dict` output."""
        return cls(np.asarray(data["values"], dtype=np.float64),
                   np.asarray(data["weights"], dtype=np.float64), exact=bool(data["exact"]),
                   rank_error=float(data["rank_error"]), k=int(data["k"]))


@dataclass(frozen=True, slots=True)
class DistinctSketch:
    """KMV sketch: the ``k`` smallest 64-bit hashes seen, and how they were hashed.

    Attributes:
        hashes: ascending distinct hash values (at most ``k``).
        k: capacity.
        scheme: hash function name; sketches of different schemes cannot be merged
            exactly (their estimates are combined as a lower bound instead).
        floor: a lower bound carried over from merging incompatible sketches.
    """

    hashes: tuple[int, ...]
    k: int = DEFAULT_DISTINCT_K
    scheme: str = "splitmix64"
    floor: int = 0

    @classmethod
    def from_hashes(cls, hashes: np.ndarray, *, scheme: str,
                    k: int = DEFAULT_DISTINCT_K) -> DistinctSketch:
        """Build from an array of uint64 hashes (duplicates allowed)."""
        unique = np.unique(hashes) if hashes.size <= 4 * k else _smallest_unique(hashes, k)
        return cls(tuple(int(h) for h in unique[:k]), k=k, scheme=scheme)

    @property
    def estimate(self) -> int:
        """Estimated number of distinct values."""
        size = len(self.hashes)
        if size < self.k:
            return max(size, self.floor)
        kth = (self.hashes[-1] + 1) / 2.0**64
        return max(round((self.k - 1) / kth), self.floor)

    def merge(self, other: DistinctSketch) -> DistinctSketch:
        """The sketch of the union."""
        if self.scheme != other.scheme:
            floor = max(self.estimate, other.estimate)
            return DistinctSketch(self.hashes, self.k, self.scheme, floor)
        k = min(self.k, other.k)
        merged = sorted(set(self.hashes) | set(other.hashes))[:k]
        return DistinctSketch(tuple(merged), k, self.scheme, max(self.floor, other.floor))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (hashes as hex strings: JSON readers other than Python lose
        precision on 64-bit integers)."""
        return {"k": self.k, "scheme": self.scheme, "floor": self.floor,
                "hashes": [format(h, "016x") for h in self.hashes]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DistinctSketch:
        """Rebuild from :meth:`to_dict` output."""
        return cls(tuple(int(h, 16) for h in data["hashes"]), int(data["k"]),
                   str(data["scheme"]), int(data.get("floor", 0)))


def splitmix64(values: np.ndarray) -> np.ndarray:
    """A stable 64-bit hash of float64 values (same in every process and version).

    Integers and floats holding the same number hash alike; -0.0 hashes as 0.0.
    """
    bits = (np.asarray(values, dtype=np.float64) + 0.0).view(_U64)
    with np.errstate(over="ignore"):
        z = bits + _U64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
        return z ^ (z >> _U64(31))


def _smallest_unique(hashes: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` smallest distinct hashes without sorting everything."""
    take = min(hashes.size - 1, 4 * k)
    candidates = np.unique(np.partition(hashes, take)[: take + 1])
    if candidates.size >= k:
        return candidates
    return np.unique(hashes)  # so many duplicates that a full pass is needed anyway
