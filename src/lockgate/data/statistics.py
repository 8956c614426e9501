"""Light per-column statistics kept with each dataset version, and the batch-level checks
that compare a batch against the table's previous statistics: scale (a unit change), null
share and category set.

Profiles and drift belong to the quality stage; these few numbers exist so the door can
flag a batch-level change before the batch is trusted. They are computed on the *whole
incoming batch* (every value that parsed), not on the accepted rows: when a range check
quarantines most of a x1000 batch, the few rows left look normal, and the change would
hide behind the row checks.
"""

from __future__ import annotations

import math
from typing import Any

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
