"""Light per-column statistics kept with each dataset version, and the batch-level scale
check that compares a batch against the table's previous statistics.

Profiles and drift belong to the quality stage; these few numbers exist so the door can
flag a unit change (a column suddenly 1000x larger) before the batch is trusted.
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


def column_stats(frame: pl.DataFrame, contract: Contract) -> dict[str, dict[str, Any]]:
    """Mean, std, quantiles and count of every numeric contract column."""
    numeric = [c.name for c in contract.columns if c.is_numeric and c.name in frame.columns]
    if not numeric or frame.is_empty():
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
        for stat in ("abs_median", "std"):
            a, b = now.get(stat), before.get(stat)
            if not a or not b:
                continue
            ratio = a / b
            if ratio >= SCALE_FACTOR or ratio <= 1 / SCALE_FACTOR:
                flagged[name] = (f"`{name}` {stat.replace('_', ' ')} went from {b:.4g} to "
                                 f"{a:.4g} (x{ratio:.3g}): a unit or scale change?")
                break
    return flagged


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
