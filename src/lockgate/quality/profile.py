"""Profiles: per-column statistics of a frame, computed in one pass and mergeable.

A :class:`Profile` holds, for every column: count, nulls, NaNs, a distinct estimate,
min / max, mean / variance, a quantile sketch (numeric and temporal columns) and value
counts (categorical columns). Two profiles merge into the profile of the union of their
rows, so daily batches or live windows combine without re-reading data.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from lockgate.errors import LockgateError
from lockgate.quality.sketch import DEFAULT_K, DistinctSketch, QuantileSketch, splitmix64

if TYPE_CHECKING:
    from lockgate.data import Contract

FORMAT = "lockgate.profile/1"
#: Categories counted exactly per column; rarer ones beyond this are pooled as "other".
MAX_CATEGORIES = 1000
KINDS = ("numeric", "categorical", "temporal")
_ROLES = ("primary_key", "target", "event_time", "entity", "feature")


class ProfileError(LockgateError, ValueError):
    """A profile cannot be built, read or merged as asked."""


@dataclass(frozen=True, slots=True)
class ColumnProfile:
    """Statistics of one column.

    Attributes:
        name: column name.
        kind: "numeric", "categorical" or "temporal" (epoch seconds in the sketch).
        dtype: the Polars dtype it was computed from.
        count: rows, nulls included.
        nulls: null values (NaN counted separately).
        nans: NaN values of a float column (excluded from every other statistic).
        minimum / maximum: over non-null values (epoch seconds for temporal columns).
        mean: mean of non-null values.
        m2: sum of squared deviations from the mean (variance = m2 / (n - 1)); kept
            instead of the variance because it merges exactly (Chan et al.).
        sketch: quantile sketch (numeric and temporal).
        categories: exact value counts of the most frequent values (categorical).
        other_count: rows of values not in ``categories`` (when there were too many).
        distinct: distinct-count sketch.
    """

    name: str
    kind: str
    dtype: str
    count: int
    nulls: int
    nans: int = 0
    minimum: float | None = None
    maximum: float | None = None
    mean: float | None = None
    m2: float = 0.0
    sketch: QuantileSketch | None = None
    categories: dict[str, int] = field(default_factory=dict)
    other_count: int = 0
    distinct: DistinctSketch | None = None

    @property
    def valid(self) -> int:
        """Non-null, non-NaN values."""
        return self.count - self.nulls - self.nans

    @property
    def variance(self) -> float | None:
        """Sample variance (ddof=1) of the valid values (None for categorical columns)."""
        if self.kind == "categorical" or self.valid < 2:
            return None
        return self.m2 / (self.valid - 1)

    @property
    def std(self) -> float | None:
        """Sample standard deviation."""
        variance = self.variance
        return math.sqrt(variance) if variance is not None else None

    @property
    def null_fraction(self) -> float:
        """Share of rows that are null or NaN."""
        return (self.nulls + self.nans) / self.count if self.count else 0.0

    @property
    def distinct_estimate(self) -> int:
        """Distinct valid values (exact when small, estimated above the sketch size)."""
        if self.kind == "categorical" and not self.other_count:
            return len(self.categories)
        if self.sketch is not None and self.sketch.exact:
            return int(self.sketch.values.size)
        return self.distinct.estimate if self.distinct is not None else 0

    def quantiles(self, probs: Iterable[float] = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99),
                  ) -> dict[float, float]:
        """Quantiles from the sketch (empty for categorical columns)."""
        if self.sketch is None or self.valid == 0:
            return {}
        probs = list(probs)
        return dict(zip(probs, self.sketch.quantile(np.asarray(probs)).tolist(), strict=True))

    def histogram(self, edges: np.ndarray | None = None, bins: int = 30,
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Counts between ``edges`` (default: ``bins`` equal-width bins over the 0.5-99.5 %
        range); values outside fall into the first and last bins.

        Passing the same edges for two profiles gives directly comparable histograms.
        """
        if self.sketch is None:
            raise ProfileError(f"Column `{self.name}` is {self.kind}: it has value counts, "
                               "not a histogram; use `.categories`.")
        if edges is None:
            edges = default_edges(self, bins)
        inner = self.sketch.cdf(np.asarray(edges, dtype=np.float64)[1:-1]) * self.sketch.count
        cumulative = np.concatenate(([0.0], inner, [self.sketch.count]))
        return np.asarray(edges, dtype=np.float64), np.diff(cumulative)

    def merge(self, other: ColumnProfile) -> ColumnProfile:
        """The profile of the union of both columns' rows."""
        if other.kind != self.kind:
            raise ProfileError(
                f"Cannot merge column `{self.name}`: it is {self.kind} in one profile and "
                f"{other.kind} in the other. Cast it to one type before profiling."
            )
        n_a, n_b = self.valid, other.valid
        mean, m2 = _merge_moments(n_a, self.mean, self.m2, n_b, other.mean, other.m2)
        categories, other_count = _merge_categories(self, other)
        return replace(
            self,
            count=self.count + other.count, nulls=self.nulls + other.nulls,
            nans=self.nans + other.nans,
            minimum=_pick(min, self.minimum, other.minimum),
            maximum=_pick(max, self.maximum, other.maximum),
            mean=mean, m2=m2,
            sketch=_merge_optional(self.sketch, other.sketch),
            categories=categories, other_count=other_count,
            distinct=_merge_optional(self.distinct, other.distinct),
            dtype=self.dtype if self.dtype == other.dtype else f"{self.dtype}|{other.dtype}",
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "name": self.name, "kind": self.kind, "dtype": self.dtype, "count": self.count,
            "nulls": self.nulls, "nans": self.nans, "min": self.minimum, "max": self.maximum,
            "mean": self.mean, "m2": self.m2, "std": self.std,
            "distinct_estimate": self.distinct_estimate,
            "quantiles": {str(q): v for q, v in self.quantiles().items()},
            "sketch": self.sketch.to_dict() if self.sketch is not None else None,
            "categories": self.categories, "other_count": self.other_count,
            "distinct": self.distinct.to_dict() if self.distinct is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnProfile:
        """Rebuild from :meth:`to_dict` output."""
        return cls(
            name=data["name"], kind=data["kind"], dtype=data["dtype"], count=int(data["count"]),
            nulls=int(data["nulls"]), nans=int(data.get("nans", 0)), minimum=data["min"],
            maximum=data["max"], mean=data["mean"], m2=float(data["m2"]),
            sketch=QuantileSketch.from_dict(data["sketch"]) if data.get("sketch") else None,
            categories={str(k): int(v) for k, v in (data.get("categories") or {}).items()},
            other_count=int(data.get("other_count", 0)),
            distinct=DistinctSketch.from_dict(data["distinct"]) if data.get("distinct")
            else None,
        )


@dataclass(frozen=True, slots=True)
class Profile:
    """Per-column statistics of a frame (or of several frames, merged).

    Attributes:
        rows: rows profiled.
        columns: column profiles by name, in frame order.
        roles: column roles from the contract ("primary_key", "target", "event_time",
            "entity", "feature"); empty when profiled without a contract.
    """

    rows: int
    columns: dict[str, ColumnProfile]
    roles: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> ColumnProfile:
        try:
            return self.columns[name]
        except KeyError:
            from lockgate.errors import close_matches

            raise ProfileError(
                f"No column `{name}` in this profile." + close_matches(name, self.columns)
                + f" Columns: {', '.join(self.columns)}."
            ) from None

    def merge(self, other: Profile) -> Profile:
        """The profile of the union of both profiles' rows.

        A column present in only one profile counts as all-null in the other (a column
        added by schema evolution keeps its history honest).
        """
        names = list(self.columns) + [c for c in other.columns if c not in self.columns]
        merged = {}
        for name in names:
            left = self.columns.get(name) or _all_null(other.columns[name], self.rows)
            right = other.columns.get(name) or _all_null(left, other.rows)
            merged[name] = left.merge(right)
        return Profile(self.rows + other.rows, merged, {**other.roles, **self.roles})

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, with a format version."""
        return {"format": FORMAT, "rows": self.rows, "roles": self.roles,
                "columns": [c.to_dict() for c in self.columns.values()]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        """Rebuild from :meth:`to_dict` output.

        Raises:
            ProfileError: the data is not a lockgate profile of a known format.
        """
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
            raise ProfileError(f"Not a lockgate profile (format {found!r}, expected "
                               f"{FORMAT!r}). Recompute it with `lockgate.quality.profile`.")
        columns = [ColumnProfile.from_dict(c) for c in data["columns"]]
        return cls(int(data["rows"]), {c.name: c for c in columns}, dict(data.get("roles", {})))

    def summary(self) -> list[dict[str, Any]]:
        """One flat row per column, for tables and reports."""
        rows = []
        for column in self.columns.values():
            quantiles = column.quantiles((0.5,))
            top = max(column.categories.items(), key=lambda kv: kv[1])[0] \
                if column.categories else None
            rows.append({
                "column": column.name, "kind": column.kind, "role": self.roles.get(column.name),
                "count": column.count, "null_fraction": column.null_fraction,
                "distinct": column.distinct_estimate, "min": column.minimum,
                "max": column.maximum, "mean": column.mean, "std": column.std,
                "median": quantiles.get(0.5), "top": top,
            })
        return rows

    def __repr__(self) -> str:
        from lockgate.quality.display import profile_text

        return profile_text(self)

    def _repr_html_(self) -> str:
        from lockgate.quality.display import profile_html

        return profile_html(self)


def profile(frame: pl.DataFrame, *, contract: Contract | None = None,
            k: int = DEFAULT_K, max_categories: int = MAX_CATEGORIES) -> Profile:
    """Profile every column of ``frame`` in one pass over each column.

    Args:
        frame: the data.
        contract: when given, column types ("category", "string" are categorical even
            when stored as integers) and roles (target, keys) come from it.
        k: points of each quantile sketch (rank error about ``1/(2k)``).
        max_categories: value counts kept exactly per categorical column.

    Returns:
        A :class:`Profile`.

    Raises:
        ProfileError: a column has a type that cannot be profiled (lists, structs...).
    """
    if not isinstance(frame, pl.DataFrame):
        raise ProfileError(f"profile() needs a Polars DataFrame, got {type(frame).__name__}. "
                           "Convert with `polars.from_pandas(df)`.")
    kinds = {name: column_kind(frame.schema[name], _contract_type(contract, name))
             for name in frame.columns}
    jobs = [(frame.get_column(name), kinds[name], k, max_categories) for name in frame.columns]
    workers = min(len(jobs), os.cpu_count() or 1) or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        columns = list(pool.map(lambda job: profile_column(*job)[0], jobs))
    return Profile(frame.height, {c.name: c for c in columns}, roles_of(contract, frame.columns))


def column_kind(dtype: pl.DataType, contract_type: str | None = None) -> str:
    """How a column is profiled: numeric, categorical or temporal.

    Raises:
        ProfileError: nested or binary columns.
    """
    if contract_type in ("category", "string", "bool"):
        return "categorical"
    if dtype.is_numeric():
        return "numeric"
    if dtype.is_temporal() and dtype != pl.Time and not isinstance(dtype, pl.Duration):
        return "temporal"
    if dtype in (pl.String, pl.Boolean, pl.Categorical) or isinstance(dtype, pl.Enum):
        return "categorical"
    raise ProfileError(f"Cannot profile a column of type {dtype}: only numbers, strings, "
                       "categories, booleans, dates and datetimes are profiled. Drop it or "
                       "cast it first.")


def profile_column(series: pl.Series, kind: str, k: int = DEFAULT_K,
                   max_categories: int = MAX_CATEGORIES, *, distinct: bool = True,
                   ) -> tuple[ColumnProfile, np.ndarray | None]:
    """Profile one column; also returns its sorted valid values when numeric/temporal
    (drift uses them for exact tests without sorting twice).

    ``distinct=False`` skips the distinct sketch of numeric columns (drift does not need
    it, and hashing is 40 % of a numeric column's cost).
    """
    nulls = series.null_count()
    base = ColumnProfile(name=series.name, kind=kind, dtype=str(series.dtype),
                         count=series.len(), nulls=nulls)
    if kind == "categorical":
        return _categorical(series, base, max_categories), None
    values = _as_float_array(series, kind)
    nans = int(np.isnan(values).sum()) if series.dtype.is_float() else 0
    if nans:
        values = values[~np.isnan(values)]
    values = np.sort(values)
    if values.size == 0:
        return replace(base, nans=nans, sketch=QuantileSketch.empty(k)), values
    mean = float(values.mean())
    m2 = float(np.square(values - mean).sum())
    sketch = QuantileSketch.from_sorted(values, k)
    hashes = None
    if distinct:
        distinct_values = sketch.values if sketch.exact else _unique_sorted(values)
        hashes = DistinctSketch.from_hashes(splitmix64(distinct_values), scheme="splitmix64")
    return replace(base, nans=nans, minimum=float(values[0]), maximum=float(values[-1]),
                   mean=mean, m2=m2, sketch=sketch, distinct=hashes), values


def roles_of(contract: Contract | None, columns: Iterable[str]) -> dict[str, str]:
    """Role of each column under a contract (empty without one)."""
    if contract is None:
        return {}
    roles = {}
    for name in columns:
        if name in tuple(contract.primary_key):
            roles[name] = "primary_key"
        elif name == contract.target:
            roles[name] = "target"
        elif name == contract.event_time:
            roles[name] = "event_time"
        elif name == contract.entity:
            roles[name] = "entity"
        else:
            roles[name] = "feature"
    return roles


def default_edges(column: ColumnProfile, bins: int = 30) -> np.ndarray:
    """Equal-width edges over a column's 0.5-99.5 % range (its full range when exact)."""
    if column.sketch is None or column.valid == 0:
        return np.array([0.0, 1.0])
    if column.sketch.exact and column.sketch.values.size <= bins:
        points = column.sketch.values
        if points.size == 1:
            return np.array([points[0] - 0.5, points[0] + 0.5])
        mids = (points[1:] + points[:-1]) / 2
        return np.concatenate(([points[0] - (mids[0] - points[0])], mids,
                               [points[-1] + (points[-1] - mids[-1])]))
    low, high = column.sketch.quantile(np.array([0.005, 0.995]))
    if not high > low:
        low, high = column.minimum, column.maximum
    if not high > low:
        return np.array([low - 0.5, high + 0.5])
    return np.linspace(low, high, bins + 1)


def _categorical(series: pl.Series, base: ColumnProfile, max_categories: int) -> ColumnProfile:
    as_text = series.drop_nulls().cast(pl.String)
    counts = as_text.value_counts(sort=True, name="n")
    keys = counts.get_column(as_text.name).to_list()
    ns = counts.get_column("n").to_list()
    kept = dict(zip(keys[:max_categories], ns[:max_categories], strict=True))
    other = int(sum(ns[max_categories:]))
    distinct = DistinctSketch.from_hashes(
        counts.get_column(as_text.name).hash(seed=0).to_numpy(),
        scheme=f"polars-{pl.__version__}",
    )
    return replace(base, categories={str(k): int(v) for k, v in kept.items()},
                   other_count=other, distinct=distinct)


def _as_float_array(series: pl.Series, kind: str) -> np.ndarray:
    valid = series.drop_nulls()
    if kind == "temporal":
        # Epoch seconds: the same unit for dates and datetimes of any precision.
        valid = valid.cast(pl.Datetime("us")).dt.epoch("us").cast(pl.Float64) / 1e6
    return valid.cast(pl.Float64).to_numpy()


def _unique_sorted(values: np.ndarray) -> np.ndarray:
    return values[np.concatenate(([True], values[1:] != values[:-1]))]


def _contract_type(contract: Contract | None, name: str) -> str | None:
    if contract is None:
        return None
    try:
        return contract.column(name).type
    except Exception:  # a column outside the contract (e.g. a lineage column)
        return None


def _merge_moments(n_a: int, mean_a: float | None, m2_a: float, n_b: int,
                   mean_b: float | None, m2_b: float) -> tuple[float | None, float]:
    if not n_b or mean_b is None:
        return mean_a, m2_a
    if not n_a or mean_a is None:
        return mean_b, m2_b
    n = n_a + n_b
    delta = mean_b - mean_a
    return mean_a + delta * n_b / n, m2_a + m2_b + delta * delta * n_a * n_b / n


def _merge_categories(a: ColumnProfile, b: ColumnProfile) -> tuple[dict[str, int], int]:
    if a.kind != "categorical":
        return {}, 0
    counts = dict(a.categories)
    for key, value in b.categories.items():
        counts[key] = counts.get(key, 0) + value
    limit = max(len(a.categories), len(b.categories), MAX_CATEGORIES)
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = dict(ordered[:limit])
    return kept, a.other_count + b.other_count + sum(v for _, v in ordered[limit:])


def _merge_optional(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return a.merge(b)


def _pick(choose: Any, a: float | None, b: float | None) -> float | None:
    present = [v for v in (a, b) if v is not None]
    return choose(present) if present else None


def _all_null(like: ColumnProfile, rows: int) -> ColumnProfile:
    sketch = QuantileSketch.empty(like.sketch.k) if like.sketch is not None else None
    return ColumnProfile(name=like.name, kind=like.kind, dtype=like.dtype, count=rows,
                         nulls=rows, sketch=sketch)
