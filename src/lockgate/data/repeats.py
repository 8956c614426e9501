"""Repeated keys in a batch (primary-key duplicates, ``unique`` columns, copies), found
by hashing the key only.

Why not ``Expr.is_duplicated()``: Polars answers it with a group-by over the whole
batch, ~0.35 s of CPU per million integer keys and 2-3x that for text keys (64% of the
validation pass's CPU in issue #18). Here each key is hashed once to 64 bits and the
hashes sorted (a NumPy sort of integers); only the rows whose hash occurs twice are
candidates, and the exact comparison of key values (``is_duplicated`` itself, so the
semantics are Polars' own) runs on those few rows. A hash collision therefore never
makes two different keys "duplicates": it only makes both rows candidates that the
exact pass clears. When most rows are candidates (a key that repeats a lot), the exact
pass runs on the whole batch directly. Rows with a null key (or a null in a composite
key) never repeat.
"""

from __future__ import annotations

import numpy as np
import polars as pl

_SEED = 0x5EED
#: Above this share of candidate rows, hashing first saves nothing.
_DENSE = 0.125


def repeated(columns: list[str]) -> pl.Expr:
    """True on every row whose key (``columns``, none null) occurs more than once."""
    return _key(columns).map_batches(repeated_rows, return_dtype=pl.Boolean)


def later_repeat(columns: list[str]) -> pl.Expr:
    """True on every row whose key (none null) occurred in an earlier row (the first
    occurrence of each key is False)."""
    return _key(columns).map_batches(later_rows, return_dtype=pl.Boolean)


def repeated_rows(key: pl.Series, *, nulls_equal: bool = False) -> pl.Series:
    """:func:`repeated` on a Series (a struct Series for a composite key); with
    ``nulls_equal``, null keys repeat each other too (``is_duplicated``'s rule)."""
    present = (pl.Series(key.name, np.ones(len(key), dtype=bool)) if nulls_equal
               else _present(key))
    candidates = _candidates(key, present)
    if candidates is None:
        return pl.Series(key.name, np.zeros(len(key), dtype=bool))
    if candidates is present:
        return present & key.is_duplicated()
    suspects = key.filter(candidates)
    values = suspects.filter(suspects.is_duplicated())
    hit = key.is_in(values.implode(), nulls_equal=True)  # a null key only where allowed
    return (candidates & hit).fill_null(False)


def later_rows(key: pl.Series) -> pl.Series:
    """:func:`later_repeat` on a Series."""
    present = _present(key)
    candidates = _candidates(key, present)
    if candidates is None:
        return pl.Series(key.name, np.zeros(len(key), dtype=bool))
    if candidates is present:
        return present & ~key.is_first_distinct()
    positions = candidates.arg_true()
    later = positions.filter(~key.gather(positions).is_first_distinct())
    out = np.zeros(len(key), dtype=bool)
    out[later.to_numpy()] = True
    return pl.Series(key.name, out)


def _key(columns: list[str]) -> pl.Expr:
    return pl.col(columns[0]) if len(columns) == 1 else pl.struct(columns)


def _present(key: pl.Series) -> pl.Series:
    """Rows whose key has no null (in any field of a composite key)."""
    if key.dtype == pl.Struct:
        return key.to_frame().select(pl.all_horizontal(
            [pl.col(key.name).struct.field(f.name).is_not_null()
             for f in key.dtype.fields])).to_series()  # type: ignore[attr-defined]
    return key.is_not_null()


def _candidates(key: pl.Series, present: pl.Series) -> pl.Series | None:
    """Rows whose key hash occurs more than once (None: no row; ``present`` itself:
    too many rows for the hash pass to pay)."""
    hashed = key.hash(seed=_SEED).to_numpy()
    mask = present.to_numpy()
    ordered = np.sort(hashed[mask] if not mask.all() else hashed)
    twice = ordered[1:][ordered[1:] == ordered[:-1]]
    if not len(twice):
        return None
    chosen = np.isin(hashed, np.unique(twice)) & mask
    if chosen.sum() > _DENSE * len(key):
        return present
    return pl.Series(key.name, chosen)
