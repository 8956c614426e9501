"""Light per-column statistics kept with each dataset version, and the batch-level checks
that compare a batch against the table's previous statistics: scale (a unit change), null
share and category set.

Profiles and drift belong to the quality stage; these few numbers exist so the door can
flag a batch-level change before the batch is trusted. They are computed on the *whole
incoming batch* (every value that parsed, copies of rows that had landed or came
earlier excepted: they are not ingested), not on the accepted rows: when a range check
quarantines most of a x1000 batch, the few rows left look normal, and the change would
hide behind the row checks.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from lockgate.data.contract import Contract

#: A batch whose typical magnitude moved by this factor or more is flagged.
SCALE_FACTOR = 20.0
#: Fewer non-null values than this and no scale verdict is drawn.
MIN_VALUES = 5
#: Quantiles and the median come from a sample of at most this many rows.
SAMPLE_ROWS = 100_000
#: A column's null share rising by this much (absolute) is flagged...
NULL_SHARE_RISE = 0.3
#: ...and so is a batch where this share of a category column's values were never seen.
NEW_CATEGORY_SHARE = 0.2
#: Category sets are kept for columns with at most this many distinct values.
MAX_CATEGORIES = 50
#: Where a sampled row came from (so a copy found later can leave the sample).
_CHUNK, _POS = "__chunk__", "__pos__"


def column_stats(frame: pl.DataFrame, contract: Contract) -> dict[str, dict[str, Any]]:
    """Per contract column: its null share; for numbers mean, std, quantiles and count;
    for categories the set of values (when small)."""
    if frame.is_empty():
        return {}
    out = _numeric_stats(frame, contract)
    present = [c.name for c in contract.columns if c.name in frame.columns]
    shares = frame.select(pl.col(present).null_count() / frame.height).row(0) if present else ()
    for name, share in zip(present, shares, strict=True):
        out.setdefault(name, {})["null_share"] = float(share)
        out[name]["rows"] = frame.height
    for spec in contract.columns:
        if spec.type in ("category", "bool") and spec.name in frame.columns:
            # spelled as value_counts spells them (a bool is "true", not "True")
            values = frame[spec.name].drop_nulls().unique().cast(pl.String)
            if values.len() <= MAX_CATEGORIES:
                out[spec.name]["values"] = sorted(values.to_list())
    return out


def _numeric_stats(frame: pl.DataFrame, contract: Contract) -> dict[str, dict[str, Any]]:
    numeric = [c.name for c in contract.columns if c.is_numeric and c.name in frame.columns]
    if not numeric:
        return {}
    exprs = []
    sample = frame.select(numeric)
    if sample.height > SAMPLE_ROWS:
        sample = sample.sample(SAMPLE_ROWS, seed=0)
    for name in numeric:
        col = pl.col(name).cast(pl.Float64)
        exprs += [col.abs().median().alias(f"{name}|abs_median"),
                  col.quantile(0.05).alias(f"{name}|q05"), col.quantile(0.5).alias(f"{name}|q50"),
                  col.quantile(0.95).alias(f"{name}|q95")]
    moments = [e for n in numeric for e in (
        pl.col(n).count().alias(f"{n}|count"), pl.col(n).cast(pl.Float64).mean().alias(f"{n}|mean"),
        pl.col(n).cast(pl.Float64).std().alias(f"{n}|std"))]
    row = {**frame.select(moments).row(0, named=True), **sample.select(exprs).row(0, named=True)}
    out: dict[str, dict[str, Any]] = {}
    for key, value in row.items():
        name, stat = key.split("|")
        out.setdefault(name, {})[stat] = _finite(value)
    return out


def scale_changes(current: dict[str, dict[str, Any]],
                  previous: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Columns whose magnitude changed by ``SCALE_FACTOR`` or more, with an explanation."""
    flagged = {}
    for name, now in current.items():
        before = previous.get(name)
        if not before or (now.get("count") or 0) < MIN_VALUES \
                or (before.get("count") or 0) < MIN_VALUES:
            continue
        # Robust statistics only: the batch includes the rows the door will refuse, and
        # one typo (1e9) must not read as a unit change, as it would through the std.
        for stat in ("abs_median", "spread"):
            a, b = _stat(now, stat), _stat(before, stat)
            if not a or not b:
                continue
            ratio = a / b
            if ratio >= SCALE_FACTOR or ratio <= 1 / SCALE_FACTOR:
                flagged[name] = (f"`{name}` {stat.replace('_', ' ')} went from {b:.4g} to "
                                 f"{a:.4g} (x{ratio:.3g}): a unit or scale change?")
                break
    return flagged


def null_share_changes(current: dict[str, dict[str, Any]],
                       previous: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Columns whose share of nulls rose by ``NULL_SHARE_RISE`` or more."""
    flagged = {}
    for name, now in current.items():
        before = previous.get(name) or {}
        a, b = now.get("null_share"), before.get("null_share")
        if a is None or b is None or (now.get("rows") or 0) < MIN_VALUES:
            continue
        if a - b >= NULL_SHARE_RISE:
            flagged[name] = (f"`{name}` is null in {a:.0%} of the batch, was {b:.0%}: a "
                             "broken upstream field?")
    return flagged


def category_changes(current: dict[str, dict[str, Any]],
                     previous: dict[str, dict[str, Any]],
                     counts: dict[str, dict[str, int]]) -> dict[str, str]:
    """Category columns where ``NEW_CATEGORY_SHARE`` or more of the values were never
    seen in the table (``counts``: per column, rows per value in the batch)."""
    flagged = {}
    for name in current:
        seen = set((previous.get(name) or {}).get("values") or ())
        per_value = counts.get(name) or {}
        total = sum(per_value.values())
        if not seen or total < MIN_VALUES:
            continue
        new = {v: n for v, n in per_value.items() if v not in seen}
        if sum(new.values()) >= NEW_CATEGORY_SHARE * total:
            shown = ", ".join(sorted(new)[:5])
            flagged[name] = (f"`{name}`: {sum(new.values())} of {total} values are categories "
                             f"never seen in the table ({shown}): a recoding upstream?")
    return flagged


def value_counts(frame: pl.DataFrame, contract: Contract,
                 columns: list[str]) -> dict[str, dict[str, int]]:
    """Rows per value of the given category columns (for :func:`category_changes`)."""
    out = {}
    for name in columns:
        if name in frame.columns:
            counted = frame[name].drop_nulls().cast(pl.String).value_counts()
            out[name] = dict(zip(counted[name].to_list(), counted["count"].to_list(),
                                 strict=True))
    return out


def _stat(stats: dict[str, Any], name: str) -> float | None:
    """A stored statistic; ``spread`` is the 5-95% quantile range."""
    if name != "spread":
        return stats.get(name)
    low, high = stats.get("q05"), stats.get("q95")
    return None if low is None or high is None else high - low


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class BatchStats:
    """:func:`column_stats` and :func:`value_counts` of a batch seen chunk by chunk, in
    memory independent of its length: counts, means and variances merged exactly (Chan's
    parallel formula), quantiles from a uniform sample of at most ``SAMPLE_ROWS`` rows
    kept across chunks (each row draws a random key; the smallest keys are kept), value
    sets and counts summed."""

    def __init__(self, contract: Contract, seed: int = 0) -> None:
        self.contract = contract
        self.rows = 0
        self._rng = np.random.default_rng(seed)
        self._numeric = [c.name for c in contract.columns if c.is_numeric]
        self._cats = [c.name for c in contract.columns if c.type in ("category", "bool")]
        self._nulls: dict[str, int] = {}
        self._moments: dict[str, tuple[int, float, float]] = {}
        self._sample: pl.DataFrame | None = None
        self._values: dict[str, set[str]] = {}
        self._counts: dict[str, dict[str, int]] = {}

    def add(self, frame: pl.DataFrame, chunk: int = 0,
            skip: tuple[int, ...] | list[int] = ()) -> None:
        """Fold one chunk (normalised, contract column names) into the statistics,
        without the rows at positions ``skip`` (copies: not ingested)."""
        positions = pl.int_range(pl.len(), dtype=pl.Int32).alias(_POS)
        frame = frame.with_columns(positions)
        if skip:
            frame = frame.filter(~pl.col(_POS).is_in(pl.Series(list(skip), dtype=pl.Int32)
                                                     .implode()))
        if frame.is_empty():
            return
        numeric = self._fold(frame, 1)
        if numeric:
            keys = self._rng.random(frame.height)
            values = frame.select(*numeric, _POS)
            if self._sample is not None and self._sample.height >= SAMPLE_ROWS:
                # a full sample keeps its smallest keys: a row whose key is above its
                # largest cannot enter (most rows, once the batch is long)
                entering = keys < float(self._sample["__key__"].to_numpy().max())
                values, keys = values.filter(pl.Series(entering)), keys[entering]
            part = values.with_columns(
                pl.lit(chunk, pl.Int32).alias(_CHUNK), pl.Series("__key__", keys))
            if self._sample is not None:
                part = pl.concat([self._sample, part], how="diagonal_relaxed")
            self._sample = part.bottom_k(SAMPLE_ROWS, by="__key__") \
                if part.height > SAMPLE_ROWS else part

    def remove(self, frame: pl.DataFrame, chunk: int, positions: np.ndarray) -> None:
        """Take out rows added earlier (chunk ``chunk``, its rows at ``positions``, whose
        values ``frame`` holds): copies of an earlier chunk's rows, found only at the end
        of the batch. Counts and moments are subtracted exactly (Chan's formula run
        backwards), the rows leave the sample (which stays uniform over the rest)."""
        if frame.is_empty():
            return
        self._fold(frame, -1)
        if self._sample is not None:
            gone = (pl.col(_CHUNK) == chunk) & pl.col(_POS).is_in(
                pl.Series(positions.astype(np.int32)).implode())
            self._sample = self._sample.filter(~gone)

    def _fold(self, frame: pl.DataFrame, sign: int) -> list[str]:
        """Add (``sign`` 1) or take out (-1) a frame's rows, nulls, moments and category
        counts; returns its numeric columns."""
        present = [c.name for c in self.contract.columns if c.name in frame.columns]
        numeric = [n for n in self._numeric if n in frame.columns]
        row = frame.select(self._sums(present, numeric)).row(0, named=True)
        for n in present:
            self._nulls[n] = self._nulls.get(n, 0) + sign * int(row[f"{n}|nulls"])
        fold = self._merge_moments if sign > 0 else self._unmerge_moments
        for n in numeric:
            fold(n, int(row[f"{n}|count"]), row[f"{n}|mean"], row[f"{n}|m2"])
        self._count_values(frame, sign)
        self.rows += sign * frame.height
        return numeric

    def _sums(self, present: list[str], numeric: list[str]) -> list[pl.Expr]:
        exprs = [pl.col(n).null_count().alias(f"{n}|nulls") for n in present]
        for n in numeric:
            col = pl.col(n).cast(pl.Float64)
            exprs += [pl.col(n).count().alias(f"{n}|count"), col.mean().alias(f"{n}|mean"),
                      (col.var(ddof=0) * pl.col(n).count()).alias(f"{n}|m2")]
        return exprs

    def _count_values(self, frame: pl.DataFrame, sign: int) -> None:
        for name in self._cats:
            if name not in frame.columns:
                continue
            # counted as typed, the few distinct values then spelled as text (a bool
            # column is not written out as text row by row)
            counted = frame[name].drop_nulls().value_counts()
            into = self._counts.setdefault(name, {})
            for value, n in zip(counted[name].cast(pl.String).to_list(),
                                counted["count"].to_list(), strict=True):
                into[value] = into.get(value, 0) + sign * int(n)
                if not into[value]:
                    del into[value]

    def _unmerge_moments(self, name: str, n: int, mean: float | None,
                         m2: float | None) -> None:
        if not n or mean is None:
            return
        total, mu, acc = self._moments.get(name, (0, 0.0, 0.0))
        rest = total - n
        if rest <= 0:
            self._moments[name] = (0, 0.0, 0.0)
            return
        mu_rest = (total * mu - n * mean) / rest
        delta = mean - mu_rest
        self._moments[name] = (rest, mu_rest,
                               max(acc - (m2 or 0.0) - delta * delta * rest * n / total, 0.0))

    def _merge_moments(self, name: str, n: int, mean: float | None,
                       m2: float | None) -> None:
        if not n or mean is None:
            return
        m2 = m2 or 0.0
        count, mu, acc = self._moments.get(name, (0, 0.0, 0.0))
        total = count + n
        delta = mean - mu
        self._moments[name] = (total, mu + delta * n / total,
                               acc + m2 + delta * delta * count * n / total)

    def result(self) -> dict[str, dict[str, Any]]:
        """The statistics :func:`column_stats` gives for the whole batch."""
        if not self.rows:
            return {}
        out: dict[str, dict[str, Any]] = {}
        for name in self._numeric:
            count, mean, m2 = self._moments.get(name, (0, 0.0, 0.0))
            out[name] = {"count": count, "mean": _finite(mean) if count else None,
                         "std": _finite(math.sqrt(m2 / (count - 1))) if count > 1 else None}
        if self._sample is not None and self._numeric:
            exprs = []
            for name in self._numeric:
                if name not in self._sample.columns:
                    continue
                col = pl.col(name).cast(pl.Float64)
                exprs += [col.abs().median().alias(f"{name}|abs_median"),
                          col.quantile(0.05).alias(f"{name}|q05"),
                          col.quantile(0.5).alias(f"{name}|q50"),
                          col.quantile(0.95).alias(f"{name}|q95")]
            for key, value in self._sample.select(exprs).row(0, named=True).items():
                name, stat = key.split("|")
                out[name][stat] = _finite(value)
        for name, nulls in self._nulls.items():
            out.setdefault(name, {})["null_share"] = nulls / self.rows
            out[name]["rows"] = self.rows
        for name, counts in self._counts.items():
            if len(counts) <= MAX_CATEGORIES and name in out:
                out[name]["values"] = sorted(counts)
        return out

    def categories(self) -> dict[str, dict[str, int]]:
        """Rows per value of the category columns (as :func:`value_counts`)."""
        return {name: dict(counts) for name, counts in self._counts.items()}
