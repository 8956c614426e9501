"""Contract checks on live inputs: the rows the server accepted that the data contract
would have quarantined at the door (nulls, out-of-range values, unknown categories,
pattern and length breaches), counted per check in one Polars pass.

Counts are plain integers, so the checks of two buckets add up to the checks of both.
Checks are named as the door names them (:mod:`lockgate.data.check_name`); windows and
buckets stored under the names monitoring used before (``not_null:``, ``max_length:``)
are read under the door's names (:func:`read_violations`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from lockgate.data.check_name import CheckKind, check_name
from lockgate.data.contract import Contract

_NUMERIC = ("int", "float")
#: Check kinds monitoring stored under other names before it took the door's vocabulary.
LEGACY_KINDS = {"not_null": CheckKind.NULL, "max_length": CheckKind.LENGTH}


def check_expressions(contract: Contract, columns: list[str]) -> dict[str, pl.Expr]:
    """One boolean "row breaks it" expression per check the contract implies.

    Check names are the door's (``null:country``, ``range:amount``, ``allowed:country``,
    ``regex:email``, ``length:email``), so a live violation and a quarantine reason of
    the same check read alike.
    """
    present = set(columns)
    checks: dict[str, pl.Expr] = {}
    for spec in contract.columns:
        name = spec.name
        if name not in present:
            continue
        col = pl.col(name)
        if not spec.nullable:
            checks[check_name(CheckKind.NULL, name)] = col.is_null()
        low, high = spec.min, spec.max
        if spec.type in _NUMERIC and (low is not None or high is not None):
            expr = pl.lit(False)
            if low is not None:
                expr = expr | (col.cast(pl.Float64) < float(low))
            if high is not None:
                expr = expr | (col.cast(pl.Float64) > float(high))
            checks[check_name(CheckKind.RANGE, name)] = expr.fill_null(False)
        if spec.allowed_json:
            allowed = [str(v) for v in spec.allowed_json]
            checks[check_name(CheckKind.ALLOWED, name)] = (
                ~col.cast(pl.String).is_in(allowed)).fill_null(False)
        if spec.regex:
            checks[check_name(CheckKind.REGEX, name)] = (~col.cast(pl.String).str.contains(
                f"^(?:{spec.regex})$")).fill_null(False)
        if spec.max_length is not None:
            checks[check_name(CheckKind.LENGTH, name)] = (
                col.cast(pl.String).str.len_chars() > int(spec.max_length)).fill_null(False)
    return checks


def count_violations(frame: pl.DataFrame, contract: Contract) -> dict[str, int]:
    """Rows breaking each check, plus ``__any__``: rows breaking at least one."""
    checks = check_expressions(contract, frame.columns)
    if not checks or frame.height == 0:
        return {"__any__": 0, **dict.fromkeys(checks, 0)}
    any_expr = pl.any_horizontal(list(checks.values()))
    exprs = [expr.sum().alias(name) for name, expr in checks.items()]
    row = frame.select([*exprs, any_expr.sum().alias("__any__")]).row(0, named=True)
    return {name: int(value or 0) for name, value in row.items()}


def merge_violations(a: Mapping[str, int], b: Mapping[str, int]) -> dict[str, int]:
    """The violations of two disjoint sets of rows."""
    return {key: int(a.get(key, 0)) + int(b.get(key, 0)) for key in {*a, *b}}


def read_violations(stored: Mapping[str, Any]) -> dict[str, int]:
    """Violation counts as stored in a bucket profile or a window, under the door's
    names: a count stored under a legacy name (``not_null:age``) is read as the door's
    (``null:age``), added to any count already under that name."""
    counts: dict[str, int] = {}
    for name, value in stored.items():
        kind, sep, column = name.partition(":")
        current = check_name(LEGACY_KINDS[kind], column) if sep and kind in LEGACY_KINDS \
            else name
        counts[current] = counts.get(current, 0) + int(value)
    return counts
