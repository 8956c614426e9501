"""Contract checks on live inputs: the rows the server accepted that the data contract
would have quarantined at the door (nulls, out-of-range values, unknown categories,
pattern and length breaches), counted per check in one Polars pass.

Counts are plain integers, so the checks of two buckets add up to the checks of both.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from lockgate.data.contract import Contract

_NUMERIC = ("int", "float")


def check_expressions(contract: Contract, columns: list[str]) -> dict[str, pl.Expr]:
    """One boolean "row breaks it" expression per check the contract implies.

    Check names follow the data stage's quarantine reasons (``range:amount``,
    ``not_null:country``, ``allowed:country``, ``regex:email``, ``max_length:email``).
    """
    present = set(columns)
    checks: dict[str, pl.Expr] = {}
    for spec in contract.columns:
        name = spec.name
        if name not in present:
            continue
        col = pl.col(name)
        if not spec.nullable:
            checks[f"not_null:{name}"] = col.is_null()
        low, high = spec.min, spec.max
        if spec.type in _NUMERIC and (low is not None or high is not None):
            expr = pl.lit(False)
            if low is not None:
                expr = expr | (col.cast(pl.Float64) < float(low))
            if high is not None:
                expr = expr | (col.cast(pl.Float64) > float(high))
            checks[f"range:{name}"] = expr.fill_null(False)
        if spec.allowed_json:
            allowed = [str(v) for v in spec.allowed_json]
            checks[f"allowed:{name}"] = (~col.cast(pl.String).is_in(allowed)).fill_null(False)
        if spec.regex:
            checks[f"regex:{name}"] = (~col.cast(pl.String).str.contains(
                f"^(?:{spec.regex})$")).fill_null(False)
        if spec.max_length is not None:
            checks[f"max_length:{name}"] = (
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
