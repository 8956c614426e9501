"""Drift between a reference and a current dataset (profiles or frames).

Every column gets PSI and Jensen-Shannon distance over the same bins (reference
quantiles for numbers, the union of categories for categoricals; missing values are a
bin of their own). Numbers also get Kolmogorov-Smirnov and Wasserstein, categoricals
chi-square. KS is exact from the sorted raw values when frames of at most
``exact_ks_rows`` values are given; otherwise it comes from the quantile sketches, whose
rank errors bound how far it can be off (``FeatureDrift.ks_error``). Its p-value is then
taken at ``KS - ks_error``, so sketch error can hide a borderline result but never raise
a false alarm. Why: an exact KS needs both columns' sorted values merged, which cost
more CPU than everything else in ``drift()`` together at a million rows, while the
sketch's error (~0.001 at k=1024) is far below any effect size worth an alarm.

Verdicts use effect size *and* significance: a feature drifts when its effect size
(Wasserstein distance in reference standard deviations for numbers, Jensen-Shannon
distance for categories, or PSI, or the share of new categories) passes its threshold
*and* the test's p-value is below ``p_value``. A tiny shift on a million rows is
significant but small, so it is not an alarm; a large shift on a handful of rows may be
chance, so it is not an alarm either.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import polars as pl
from scipy import stats
from scipy.spatial.distance import jensenshannon

from lockgate.errors import ConfigError
from lockgate.quality.profile import (
    ColumnProfile,
    Profile,
    ProfileError,
    column_kind,
    profile_column,
)
from lockgate.quality.sketch import DEFAULT_K

_SKIPPED_ROLES = ("primary_key", "event_time", "entity")
_EXACT_KS_LIMIT = 20_000  # below this, scipy's exact KS distribution; above, asymptotic


@dataclass(frozen=True, slots=True)
class DriftConfig:
    """Thresholds and choices of a drift comparison; the defaults suit 1k to 10M rows.

    Attributes:
        columns: columns to compare (default: every shared column except primary key,
            event time, entity and temporal columns).
        bins: reference-quantile bins for PSI / Jensen-Shannon of numeric columns.
        numeric_threshold: Wasserstein distance, in reference standard deviations, at
            which a numeric column counts as drifted (0.1 = a tenth of a std).
        categorical_threshold: Jensen-Shannon distance (base 2, 0..1) for categoricals.
        psi_threshold: PSI at which any column counts as drifted (0.25 = "major shift"
            in credit-risk practice).
        new_category_share: share of current rows in categories the reference never had.
        p_value: significance required alongside the effect size.
        dataset_share: share of drifted columns at which the dataset counts as drifted.
        include_temporal: also compare date / datetime columns (time usually moves on,
            so they are left out by default).
        exact_tests: with frames, compute KS on the raw values rather than the sketches
            (for columns of at most ``exact_ks_rows`` values).
        exact_ks_rows: largest column (valid values, either side) for the exact KS; above
            it KS comes from the sketches with a stated error bound.
        max_distinct_ratio: categorical columns with more distinct values than this share
            of their rows (ids, emails, free text) are skipped, not compared.
        epsilon: floor of bin probabilities in PSI (avoids log 0).
    """

    columns: tuple[str, ...] | None = None
    bins: int = 10
    numeric_threshold: float = 0.1
    categorical_threshold: float = 0.1
    psi_threshold: float = 0.25
    new_category_share: float = 0.01
    p_value: float = 0.05
    dataset_share: float = 0.5
    include_temporal: bool = False
    exact_tests: bool = True
    exact_ks_rows: int = 200_000
    max_distinct_ratio: float = 0.5
    epsilon: float = 1e-4

    def __post_init__(self) -> None:
        problems = []
        if self.bins < 2:
            problems.append(f"bins must be >= 2, got {self.bins}")
        for name in ("numeric_threshold", "categorical_threshold", "psi_threshold",
                     "new_category_share", "epsilon"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("p_value", "dataset_share", "max_distinct_ratio"):
            if not 0 < getattr(self, name) <= 1:
                problems.append(f"{name} must be in (0, 1], got {getattr(self, name)}")
        if problems:
            raise ConfigError("Invalid DriftConfig: " + "; ".join(problems) + ".")


@dataclass(frozen=True, slots=True)
class FeatureDrift:
    """Drift of one column.

    Attributes:
        statistic: the effect size the verdict uses (``statistic_name`` says which).
        threshold: the effect size at which the column counts as drifted.
        p_value: of KS (numeric) or chi-square (categorical); None when not computable.
        reason: one sentence saying why the verdict is what it is.
    """

    name: str
    kind: str
    psi: float
    js: float
    ks: float | None
    chi2: float | None
    wasserstein: float | None
    p_value: float | None
    statistic: float
    threshold: float
    drifted: bool
    new_categories: tuple[str, ...] = ()
    vanished_categories: tuple[str, ...] = ()
    statistic_name: str = ""
    exact: bool = False
    ks_error: float = 0.0  # bound on |ks - exact KS| (0 when computed from the raw values)
    reference_count: int = 0
    current_count: int = 0
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (non-finite numbers as None)."""
        return {k: _finite(v) for k, v in asdict(self).items()}


@dataclass(frozen=True, slots=True)
class DriftReport:
    """Drift of every compared column and the dataset verdict."""

    features: list[FeatureDrift]
    share_drifted: float
    drifted: bool
    config: DriftConfig
    reference_rows: int
    current_rows: int
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def drifted_features(self) -> list[str]:
        """Names of drifted columns."""
        return [f.name for f in self.features if f.drifted]

    def feature(self, name: str) -> FeatureDrift:
        """The drift of one column."""
        for item in self.features:
            if item.name == name:
                return item
        raise ProfileError(f"Column `{name}` was not compared. Compared: "
                           f"{', '.join(f.name for f in self.features)}.")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "drifted": self.drifted, "share_drifted": self.share_drifted,
            "drifted_features": self.drifted_features,
            "reference_rows": self.reference_rows, "current_rows": self.current_rows,
            "features": [f.to_dict() for f in self.features], "skipped": self.skipped,
            "config": {k: list(v) if isinstance(v, tuple) else v
                       for k, v in asdict(self.config).items()},
        }

    def __repr__(self) -> str:
        from lockgate.quality.display import drift_text

        return drift_text(self)

    def _repr_html_(self) -> str:
        from lockgate.quality.display import drift_html

        return drift_html(self)


def drift(reference: Profile | pl.DataFrame, current: Profile | pl.DataFrame,
          config: DriftConfig | None = None) -> DriftReport:
    """Compare a current dataset with a reference, column by column.

    Args:
        reference: the reference profile or frame (training data, previous version).
        current: the current profile or frame (new batch, live window).
        config: thresholds; :class:`DriftConfig` defaults when None.

    Returns:
        A :class:`DriftReport`.

    Raises:
        ProfileError: a requested column is missing or has different kinds on each side.
    """
    config = config or DriftConfig()
    raw = isinstance(reference, pl.DataFrame) and isinstance(current, pl.DataFrame)
    ref_profile, ref_values = _as_profile(reference, config)
    cur_profile, cur_values = _as_profile(current, config)
    columns, skipped = _columns(ref_profile, cur_profile, config)
    compared = []
    for name in columns:
        ref, cur = ref_profile.columns[name], cur_profile.columns[name]
        if ref.kind != cur.kind:
            raise ProfileError(f"Column `{name}` is {ref.kind} in the reference and "
                               f"{cur.kind} in the current data; cast one before comparing.")
        if ref.valid == 0:
            skipped[name] = "no non-null values in the reference"
        elif ref.kind == "categorical" and _identifier_like(ref, config):
            skipped[name] = (f"identifier-like: {ref.distinct_estimate} distinct values in "
                             f"{ref.valid} rows, no distribution to compare")
        else:
            compared.append((ref, cur))

    def compare(pair: tuple[ColumnProfile, ColumnProfile]) -> FeatureDrift:
        ref, cur = pair
        if cur.valid == 0:
            return _all_missing(ref, cur, config)
        if ref.kind == "categorical":
            return _categorical(ref, cur, config)
        exact = (ref_values.get(ref.name), cur_values.get(ref.name)) if raw else (None, None)
        return _numeric(ref, cur, config, *exact)

    with ThreadPoolExecutor(max_workers=max(1, min(len(compared), os.cpu_count() or 1))) \
            as pool:  # numpy releases the GIL: exact KS of several columns in parallel
        features = list(pool.map(compare, compared))
    share = sum(f.drifted for f in features) / len(features) if features else 0.0
    return DriftReport(features, share, bool(features) and share >= config.dataset_share,
                       config, ref_profile.rows, cur_profile.rows, skipped)


def _as_profile(data: Profile | pl.DataFrame, config: DriftConfig,
                ) -> tuple[Profile, dict[str, np.ndarray]]:
    if isinstance(data, Profile):
        return data, {}
    if not isinstance(data, pl.DataFrame):
        raise ProfileError(f"drift() compares Profiles or Polars DataFrames, got "
                           f"{type(data).__name__}.")
    jobs = []
    for name in data.columns:
        if config.columns is not None and name not in config.columns:
            continue
        series = data.get_column(name)
        kind = column_kind(series.dtype)
        if kind == "temporal" and not config.include_temporal and config.columns is None:
            continue
        jobs.append((series, kind))
    workers = max(1, min(len(jobs), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        done = list(pool.map(lambda job: profile_column(job[0], job[1], DEFAULT_K,
                                                        distinct=False), jobs))
    columns, values = {}, {}
    for (series, _), (column, sorted_values) in zip(jobs, done, strict=True):
        columns[series.name] = column
        if sorted_values is not None and config.exact_tests \
                and sorted_values.size <= config.exact_ks_rows:
            values[series.name] = sorted_values
    return Profile(data.height, columns), values


def _columns(ref: Profile, cur: Profile, config: DriftConfig,
             ) -> tuple[list[str], dict[str, str]]:
    skipped: dict[str, str] = {}
    if config.columns is not None:
        missing = [c for c in config.columns if c not in ref.columns or c not in cur.columns]
        if missing:
            raise ProfileError(
                f"Columns {missing} are not in both datasets. Reference has "
                f"{', '.join(ref.columns)}; current has {', '.join(cur.columns)}."
            )
        return list(config.columns), skipped
    roles = {**cur.roles, **ref.roles}
    chosen = []
    for name, column in ref.columns.items():
        if name not in cur.columns:
            skipped[name] = "only in the reference"
        elif roles.get(name) in _SKIPPED_ROLES:
            skipped[name] = f"role {roles[name]}"
        elif column.kind == "temporal" and not config.include_temporal:
            skipped[name] = "temporal (set include_temporal=True to compare)"
        else:
            chosen.append(name)
    for name in cur.columns:
        if name not in ref.columns:
            skipped[name] = "only in the current data"
    return chosen, skipped


def _numeric(ref: ColumnProfile, cur: ColumnProfile, config: DriftConfig,
             ref_values: np.ndarray | None, cur_values: np.ndarray | None) -> FeatureDrift:
    assert ref.sketch is not None and cur.sketch is not None
    probs = np.linspace(0, 1, config.bins + 1)[1:-1]
    edges = np.unique(ref.sketch.quantile(probs))
    p_ref = _with_nulls(np.diff(np.concatenate(([0.0], ref.sketch.cdf(edges), [1.0]))), ref)
    p_cur = _with_nulls(np.diff(np.concatenate(([0.0], cur.sketch.cdf(edges), [1.0]))), cur)
    psi, js = _psi(p_ref, p_cur, config.epsilon), _js(p_ref, p_cur)
    grid = np.union1d(ref.sketch.values, cur.sketch.values)
    gap = np.abs(ref.sketch.cdf(grid) - cur.sketch.cdf(grid))
    wasserstein = float(np.sum(gap[:-1] * np.diff(grid)))
    exact = ref_values is not None and cur_values is not None
    ks = (_ks_exact(ref_values, cur_values) if ref_values is not None and cur_values is not None
          else float(gap.max()))
    # Each sketch CDF is off by at most its relative rank error, so their gap by the sum.
    ks_error = 0.0 if exact else (ref.sketch.relative_rank_error
                                  + cur.sketch.relative_rank_error)
    n, m = ref.valid, cur.valid
    # KS sees the values, a chi-square over the PSI bins also sees missing values;
    # Bonferroni keeps the pair at the configured significance.
    _, p_bins = _chi2(p_ref * ref.count, p_cur * cur.count)
    p_ks = _ks_p_value(max(0.0, ks - ks_error), n, m, ref_values, cur_values)
    p_value = min(1.0, 2 * min(p_ks, p_bins))
    scale = _scale(ref)
    effect = wasserstein / scale
    big = effect >= config.numeric_threshold or psi >= config.psi_threshold
    drifted = big and p_value < config.p_value
    reason = _reason(
        f"Wasserstein {effect:.3g} std (threshold {config.numeric_threshold:g}), "
        f"PSI {psi:.3g} (threshold {config.psi_threshold:g})", big, "KS / binned chi-square",
        p_value, config)
    return FeatureDrift(
        name=ref.name, kind=ref.kind, psi=psi, js=js, ks=ks, chi2=None,
        wasserstein=wasserstein, p_value=p_value, statistic=effect,
        threshold=config.numeric_threshold, drifted=drifted,
        statistic_name="wasserstein_std", exact=exact, ks_error=ks_error,
        reference_count=ref.count,
        current_count=cur.count, reason=reason,
    )


def _categorical(ref: ColumnProfile, cur: ColumnProfile, config: DriftConfig) -> FeatureDrift:
    keys = list(ref.categories) + [k for k in cur.categories if k not in ref.categories]
    ref_counts = np.array([ref.categories.get(k, 0) for k in keys] + [ref.other_count,
                          ref.nulls], dtype=np.float64)
    cur_counts = np.array([cur.categories.get(k, 0) for k in keys] + [cur.other_count,
                          cur.nulls], dtype=np.float64)
    p_ref, p_cur = ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()
    psi, js = _psi(p_ref, p_cur, config.epsilon), _js(p_ref, p_cur)
    # A category only counts as new when the reference kept every one of its categories.
    new = tuple(k for k in cur.categories if k not in ref.categories) \
        if ref.other_count == 0 else ()
    vanished = tuple(k for k in ref.categories if k not in cur.categories) \
        if cur.other_count == 0 else ()
    new_share = sum(cur.categories[k] for k in new) / cur.count if cur.count else 0.0
    chi2, p_value = _chi2(ref_counts, cur_counts)
    big = (js >= config.categorical_threshold or psi >= config.psi_threshold
           or new_share >= config.new_category_share)
    drifted = big and p_value < config.p_value
    detail = f"Jensen-Shannon {js:.3g} (threshold {config.categorical_threshold:g}), " \
             f"PSI {psi:.3g} (threshold {config.psi_threshold:g})"
    if new:
        detail += f", new categories hold {new_share:.1%} of rows " \
                  f"(threshold {config.new_category_share:.1%})"
    return FeatureDrift(
        name=ref.name, kind=ref.kind, psi=psi, js=js, ks=None, chi2=chi2, wasserstein=None,
        p_value=p_value, statistic=js, threshold=config.categorical_threshold,
        drifted=drifted, new_categories=new, vanished_categories=vanished,
        statistic_name="jensen_shannon", exact=ref.other_count == 0 and cur.other_count == 0,
        reference_count=ref.count, current_count=cur.count,
        reason=_reason(detail, big, "chi-square", p_value, config),
    )


def _all_missing(ref: ColumnProfile, cur: ColumnProfile, config: DriftConfig) -> FeatureDrift:
    """A column with values in the reference and none now: drift by missingness alone."""
    ref_counts = np.array([ref.valid, ref.count - ref.valid], dtype=np.float64)
    cur_counts = np.array([0.0, float(cur.count)])
    p_ref, p_cur = ref_counts / ref_counts.sum(), cur_counts / max(cur_counts.sum(), 1.0)
    psi, js = _psi(p_ref, p_cur, config.epsilon), _js(p_ref, p_cur)
    _, p_value = _chi2(ref_counts, cur_counts)
    drifted = p_value < config.p_value
    verdict = "drifted" if drifted else "not drifted (too few rows to tell)"
    return FeatureDrift(
        name=ref.name, kind=ref.kind, psi=psi, js=js, ks=None, chi2=None, wasserstein=None,
        p_value=p_value, statistic=float(p_ref[0]), threshold=0.0, drifted=drifted,
        statistic_name="share_lost_to_missing", reference_count=ref.count,
        current_count=cur.count,
        reason=f"{verdict}: every current value is missing, against {p_ref[1]:.1%} in the "
               f"reference (p={p_value:.3g}).",
    )


def _identifier_like(column: ColumnProfile, config: DriftConfig) -> bool:
    """Mostly-unique text (ids, emails, free text): every batch brings "new categories"."""
    return column.valid >= 20 and \
        column.distinct_estimate > config.max_distinct_ratio * column.valid


def _with_nulls(bins: np.ndarray, column: ColumnProfile) -> np.ndarray:
    """Bin probabilities over all rows, with missing values (null or NaN) as a last bin."""
    missing = column.nulls + column.nans
    return np.append(bins * column.valid, missing) / column.count


def _psi(p: np.ndarray, q: np.ndarray, epsilon: float) -> float:
    p, q = np.maximum(p, epsilon), np.maximum(q, epsilon)
    return float(np.sum((q - p) * np.log(q / p)))


def _js(p: np.ndarray, q: np.ndarray) -> float:
    value = float(jensenshannon(p, q, base=2))
    return 0.0 if math.isnan(value) else value


def _ks_exact(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample KS statistic from sorted arrays, as scipy computes it.

    A stable argsort of the two concatenated sorted runs is one linear merge (timsort),
    much cheaper than binary-searching each array in the other.
    """
    both = np.concatenate((a, b))
    order = np.argsort(both, kind="stable")
    merged = both[order]
    ends = np.flatnonzero(np.append(merged[1:] != merged[:-1], True))  # after ties
    from_a = np.cumsum(order < a.size)[ends]
    from_b = ends + 1 - from_a
    return float(np.abs(from_a / a.size - from_b / b.size).max())


def _ks_p_value(d: float, n: int, m: int, a: np.ndarray | None, b: np.ndarray | None) -> float:
    if a is not None and b is not None and max(n, m) <= _EXACT_KS_LIMIT:
        return float(stats.ks_2samp(a, b).pvalue)
    effective = math.sqrt(n * m / (n + m))
    return float(stats.kstwobign.sf(d * effective))


def _chi2(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
    table = np.vstack((ref_counts, cur_counts))
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0
    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def _scale(column: ColumnProfile) -> float:
    """The reference's spread: its std, else its IQR, else 1 (a constant column)."""
    std = column.std
    if std and std > 0:
        return std
    assert column.sketch is not None
    q1, q3 = column.sketch.quantile(np.array([0.25, 0.75]))
    return float(q3 - q1) / 1.349 if q3 > q1 else max(abs(column.mean or 0.0), 1.0)


def _reason(detail: str, big: bool, test: str, p_value: float, config: DriftConfig) -> str:
    significant = p_value < config.p_value
    if big and significant:
        return f"drifted: {detail}; {test} p={p_value:.3g} < {config.p_value:g}."
    if big:
        return f"not drifted: {detail}, but {test} p={p_value:.3g} >= {config.p_value:g} " \
               "(the sample is too small to tell it from chance)."
    return f"not drifted: {detail} below threshold ({test} p={p_value:.3g})."


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, tuple):
        return list(value)
    return value
