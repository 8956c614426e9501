"""Conflicting labels against the rows already landed: a new row whose features equal a
landed row's and whose target differs is quarantined at the door, its reason naming the
version that landed the other row (``conflict:churned#1234567890@v3``). The landed row
stays (it landed under the rules of its day; the training gate still reports the pair).

The landed side is, per feature group of the batch, each landed label (hashed) and the
newest version that landed it, probed from the table's landed index
(``landed_index``), which keeps them on disk in bounded memory.
"""

from __future__ import annotations

import polars as pl

from lockgate.data.contract import Contract
from lockgate.data.landed_index import GROUP, LABEL, VERSION, label_hash
from lockgate.data.normalize import PARSE_FAIL
from lockgate.data.validation import (
    LANDED_CONFLICT,
    LANDED_CONFLICT_VERSION,
    conflict_features,
    group_hash,
)


def mark_landed_conflicts(frame: pl.DataFrame, contract: Contract,
                          landed: pl.DataFrame | None) -> pl.DataFrame:
    """Add ``__lconf__`` (the row's feature group landed with another label) and
    ``__lconf_v__`` (the newest version that landed such a row) to a normalised frame;
    ``landed``: ``LandedIndex.landed_groups`` of the frame."""
    features = conflict_features(contract)
    if landed is None or landed.is_empty() or features is None or frame.is_empty():
        return frame
    parsed = ~pl.any_horizontal([pl.col(PARSE_FAIL + c)
                                 for c in (*features, contract.target or "")])
    rows = frame.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("__i__"),
                        group_hash(features).cast(pl.Int64, wrap_numerical=True).alias(GROUP),
                        label_hash(contract).cast(pl.Int64, wrap_numerical=True).alias(LABEL),
                        parsed.alias("__ok__"),
                        pl.col(contract.target or "").is_not_null().alias("__has__"))
    rows = rows.filter(pl.col("__ok__") & pl.col("__has__"))
    other = (rows.join(landed.rename({LABEL: "__other__"}), on=GROUP, how="inner")
             .filter(pl.col("__other__") != pl.col(LABEL))
             .group_by("__i__").agg(pl.col(VERSION).max()))
    flag = pl.Series(LANDED_CONFLICT, [False] * frame.height, pl.Boolean)
    version = pl.Series(LANDED_CONFLICT_VERSION, [None] * frame.height, pl.Int64)
    if not other.is_empty():
        index = other["__i__"]
        flag = flag.scatter(index, True)
        version = version.scatter(index, other[VERSION].fill_null(-1))
    return frame.with_columns(flag, version)
