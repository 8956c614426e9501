"""Normalisation: map source columns to the contract through aliases and cast every
value to the contract's type, remembering which values failed to parse.

Every source arrives here as a Polars frame. Strings are parsed (numbers, booleans,
dates with the contract's formats, timestamps to UTC); already-typed columns are cast.
So a record from a stream and the same record from a CSV land identical.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import polars as pl

from lockgate.data.contract import EPOCH_FORMATS, ColumnSpec, Contract

#: Prefix of the columns holding each source value as text, kept for quarantine.
RAW = "__src__"
#: Prefix of the per-column "value present but did not parse" flags.
PARSE_FAIL = "__pf__"
NULL_TOKENS = ("", "null", "NULL", "Null", "NA", "N/A", "n/a", "NaN", "nan", "None")
TRUE_TOKENS = ("true", "t", "yes", "y", "1")
FALSE_TOKENS = ("false", "f", "no", "n", "0")
DATETIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z",
    "%Y-%m-%dT%H:%M:%S%.fZ",
    "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M",
)
DATE_FORMATS = ("%Y-%m-%d",)


@dataclass(frozen=True, slots=True)
class ColumnMapping:
    """How a batch's columns line up with the contract.

    Attributes:
        matched: source column -> contract column, by name, alias or spelling
            (case, spaces and punctuation ignored).
        new: source columns the contract does not know.
        missing: contract columns absent from the batch.
        similar: (source column, contract column) pairs that look like a rename.
    """

    matched: dict[str, str]
    new: tuple[str, ...]
    missing: tuple[str, ...]
    similar: tuple[tuple[str, str], ...]


def map_columns(columns: list[str], contract: Contract) -> ColumnMapping:
    """Line a batch's column names up with the contract (aliases, spelling, similarity)."""
    lookup: dict[str, str] = {}
    for col in contract.columns:
        for name in (col.name, *col.aliases):
            lookup.setdefault(_canonical(name), col.name)
    matched: dict[str, str] = {}
    taken: set[str] = set()  # matched.values() as a set: `in` on it must not be linear
    new: list[str] = []
    for source in columns:
        target = lookup.get(_canonical(source))
        if target is not None and target not in taken:
            matched[source] = target
            taken.add(target)
        else:
            new.append(source)
    missing = [c for c in contract.column_names if c not in taken]
    similar: list[tuple[str, str]] = []
    for source in list(new):
        candidates = difflib.get_close_matches(
            _canonical(source), [_canonical(m) for m in missing], n=1, cutoff=0.75)
        if candidates:
            target = next(m for m in missing if _canonical(m) == candidates[0])
            similar.append((source, target))
            missing.remove(target)
            new.remove(source)
    return ColumnMapping(matched, tuple(new), tuple(missing), tuple(similar))


def normalize(frame: pl.DataFrame, contract: Contract, mapping: ColumnMapping, *,
              decimal_comma: bool = False, text_later: bool = False) -> pl.DataFrame:
    """Cast a batch to the contract.

    Returns a frame with, per contract column, the typed value, the source value as text
    (``__src__<source column>``, for quarantine) and a parse-failure flag
    (``__pf__<column>``). Columns missing from the batch are null.

    Text is parsed in two passes: a strict fast path over every row (the common, clean
    spelling), then the full path (trimming, null tokens, every format) only over the
    rows the fast path could not read, which in clean data are few.

    ``decimal_comma``: numbers are written ``1.234,5`` (a CSV read with
    ``--decimal-comma``); only int and float columns are read that way.

    ``text_later``: the frame's typed columns were parsed from text by the reader (a CSV
    typed at read), which gives their source text on demand; their ``__src__`` columns
    then hold the typed values as they are (not written out as text again), and a value
    fails only when it does not cast to the contract's type.

    The work is linear in the number of columns: the schema is read once (a wide frame's
    ``schema`` is rebuilt on every access) and no per-column step scans the others.
    """
    schema = frame.schema
    converted: set[str] = set()
    if decimal_comma:
        frame, converted = _decimal_points(frame, contract, mapping, schema)
    renames = {**mapping.matched, **dict(mapping.similar)}
    by_contract = {v: k for k, v in renames.items()}
    sources = {spec.name: by_contract.get(spec.name) for spec in contract.columns}
    fast = frame.select(
        [_fast_expr(spec, sources[spec.name], schema, text_later)
         for spec in contract.columns])
    pending = {
        spec.name: pl.col(spec.name).is_null() & pl.col(RAW + src).is_not_null()
        for spec in contract.columns
        if (src := sources[spec.name]) is not None and schema[src] == pl.String
    }
    raw_exprs = [(pl.col(c) if text_later else _as_text(pl.col(c), dtype)).alias(RAW + c)
                 for c, dtype in schema.items()]
    if converted:  # the quarantine shows the value as the source wrote it
        raw_exprs = [pl.col(f"__dc__{c}").alias(RAW + c) if c in converted
                     else e for c, e in zip(schema, raw_exprs, strict=True)]
    out = pl.concat([fast, frame.select(raw_exprs)], how="horizontal")
    fails = [_typed_fail(spec, sources[spec.name], schema, text_later)
             for spec in contract.columns]
    if pending:  # only the columns with rows the fast path missed take the slow path
        needed = out.select([e.any().alias(n) for n, e in pending.items()]).row(0)
        pending = {n: e for (n, e), need in zip(pending.items(), needed, strict=True) if need}
    if not pending:
        return out.with_columns(fails)
    retry_mask = out.select(pl.any_horizontal(list(pending.values()))).to_series()
    index = retry_mask.arg_true()
    slow = out.filter(retry_mask).select(_slow_exprs(contract, sources, schema, set(pending)))
    slow_columns = set(slow.columns)
    no_fail = pl.Series("", [False] * out.height, pl.Boolean)  # built once, not per column
    columns: list[pl.Expr | pl.Series] = []
    for spec in contract.columns:
        flag = PARSE_FAIL + spec.name
        if flag not in slow_columns:
            columns.append(_typed_fail(spec, sources[spec.name], schema, text_later))
            continue
        columns.append(out[spec.name].scatter(index, slow[spec.name]))
        columns.append(no_fail.clone().alias(flag).scatter(index, slow[flag]))
    return out.with_columns(columns)


def _decimal_points(frame: pl.DataFrame, contract: Contract, mapping: ColumnMapping,
                    schema: pl.Schema) -> tuple[pl.DataFrame, set[str]]:
    """``1.234,5`` -> ``1234.5`` in the text columns mapped to int/float contract columns
    (the source text kept as ``__dc__<column>`` for the quarantine)."""
    renames = {**mapping.matched, **dict(mapping.similar)}
    numeric = [src for src, target in renames.items()
               if contract.column(target).is_numeric and schema[src] == pl.String]
    converted = frame.with_columns(
        *[pl.col(c).alias(f"__dc__{c}") for c in numeric],
        *[pl.col(c).str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True)
          for c in numeric])
    return converted, set(numeric)


def _typed_fail(spec: ColumnSpec, source: str | None, schema: pl.Schema,
                text_later: bool = False) -> pl.Expr:
    """Parse-failure flag of a typed (non-text) source column: a value that did not cast
    (a NaN in a typed source is its null, except in a CSV typed at read, which has none)."""
    flag = PARSE_FAIL + spec.name
    if source is None or schema[source] == pl.String:
        return pl.lit(False).alias(flag)
    raw = pl.col(RAW + source)
    if text_later:
        return (pl.col(spec.name).is_null() & raw.is_not_null()).alias(flag)
    return (pl.col(spec.name).is_null() & raw.is_not_null() & (raw != "NaN")).alias(flag)


def _fast_expr(spec: ColumnSpec, source: str | None, schema: pl.Schema,
               text_later: bool = False) -> pl.Expr:
    """The strict, cheap parse of the usual spelling; null where it does not apply."""
    if source is None:
        return pl.lit(None, spec.polars_dtype).alias(spec.name)
    col, dtype = pl.col(source), schema[source]
    if text_later and spec.type in ("int", "float", "bool") and dtype == spec.polars_dtype:
        return col.alias(spec.name)  # parsed by the reader as it lands (no NaN, no inf)
    if dtype != pl.String:
        return cast_expr(col, dtype, spec).alias(spec.name)
    if spec.type == "int":
        value = col.cast(pl.Int64, strict=False)
    elif spec.type == "float":
        as_float = col.cast(pl.Float64, strict=False)
        value = pl.when(as_float.is_finite()).then(as_float)
    elif spec.type == "bool":
        value = (pl.when(col == "true").then(pl.lit(True))
                 .when(col == "false").then(pl.lit(False)).otherwise(pl.lit(None, pl.Boolean)))
    elif spec.type == "date" and spec.formats[:1] != ("epoch_s",) \
            and spec.formats[:1] != ("epoch_ms",):
        fmt = (spec.formats or DATE_FORMATS)[0]
        value = col.str.to_date(fmt, strict=False, exact=True)
    elif spec.type == "date":
        value = _epoch(col, spec.formats[0]).dt.date()
    elif spec.type == "datetime":
        value = _parse_datetime(col, spec.formats[:1] or ("%Y-%m-%dT%H:%M:%S%.f%z",))
    elif spec.type == "category" and spec.allowed:
        value = pl.when(col.is_in(list(spec.allowed))).then(col)
    elif spec.type == "category":
        stripped = col.str.strip_chars()
        value = pl.when(stripped.str.len_bytes() > 0).then(stripped)
    else:  # string: anything but the empty string is the value itself
        value = pl.when(col.str.len_bytes() > 0).then(col)
    return value.alias(spec.name)


def _slow_exprs(contract: Contract, sources: dict[str, str | None],
                schema: pl.Schema, only: set[str]) -> list[pl.Expr]:
    """The full parse and the parse-failure flags, for the rows the fast path missed, of
    the columns in ``only`` (those that had such rows)."""
    exprs: list[pl.Expr] = []
    for spec in contract.columns:
        source = sources[spec.name]
        if source is None or spec.name not in only:
            continue
        raw = pl.col(RAW + source)
        value = pl.coalesce(pl.col(spec.name), cast_expr(raw, pl.String(), spec))
        exprs.append(value.alias(spec.name))
        failed = _present(raw, pl.String(), spec.type) & value.is_null()
        exprs.append(failed.alias(PARSE_FAIL + spec.name))
    return exprs


def cast_expr(col: pl.Expr, dtype: pl.DataType, spec: ColumnSpec) -> pl.Expr:
    """An expression casting one source column to the contract type (null when it fails)."""
    if dtype == pl.String:
        return _parse_text(_clean(col, spec), spec)
    if spec.type in ("string", "category"):
        return _category(_as_text(col, dtype).str.strip_chars(), spec)
    if spec.type == "int":
        if dtype.is_integer() or dtype == pl.Boolean:
            return col.cast(pl.Int64, strict=False)
        if dtype.is_float():
            return pl.when(col == col.round(0)).then(col.cast(pl.Int64, strict=False))
    if spec.type == "float" and (dtype.is_numeric() or dtype == pl.Boolean):
        as_float = col.cast(pl.Float64, strict=False)
        return pl.when(as_float.is_finite()).then(as_float)
    if spec.type == "bool" and (dtype == pl.Boolean or dtype.is_integer()):
        return pl.when(col.cast(pl.Int64).is_in([0, 1])).then(col.cast(pl.Boolean))
    if spec.type == "datetime" and isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return col.dt.replace_time_zone("UTC").dt.cast_time_unit("us")
        return col.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    if spec.type == "datetime" and dtype == pl.Date:
        return col.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    if spec.type == "date" and isinstance(dtype, pl.Datetime):
        return (col.dt.convert_time_zone("UTC") if dtype.time_zone else col).dt.date()
    if spec.type == "date" and dtype == pl.Date:
        return col
    return _parse_text(_clean(_as_text(col, dtype), spec), spec)


def _parse_text(text: pl.Expr, spec: ColumnSpec) -> pl.Expr:
    kind = spec.type
    if kind in ("string", "category"):
        return _category(text, spec)
    if kind == "int":
        direct = text.cast(pl.Int64, strict=False)
        as_float = text.cast(pl.Float64, strict=False)
        integral = pl.when((as_float == as_float.round(0)) & (as_float.abs() < 2**53)).then(
            as_float.cast(pl.Int64, strict=False))
        return pl.coalesce(direct, integral)
    if kind == "float":
        value = text.cast(pl.Float64, strict=False)
        return pl.when(value.is_finite()).then(value)
    if kind == "bool":
        lower = text.str.to_lowercase()
        return (pl.when(lower.is_in(TRUE_TOKENS)).then(pl.lit(True))
                .when(lower.is_in(FALSE_TOKENS)).then(pl.lit(False))
                .otherwise(pl.lit(None, pl.Boolean)))
    if kind == "date":
        formats = spec.formats or DATE_FORMATS
        return pl.coalesce([_epoch(text, f).dt.date() if f in EPOCH_FORMATS
                            else text.str.to_date(f, strict=False, exact=True)
                            for f in formats])
    return _parse_datetime(text, spec.formats)


def _epoch(text: pl.Expr, fmt: str) -> pl.Expr:
    """Seconds (``epoch_s``) or milliseconds (``epoch_ms``) since 1970 as UTC time."""
    per_unit = 1_000_000 if fmt == "epoch_s" else 1_000
    number = text.cast(pl.Float64, strict=False)
    micros = pl.when(number.is_finite() & (number.abs() < 2**62 / per_unit)).then(
        (number * per_unit).round(0).cast(pl.Int64))
    return pl.from_epoch(micros, time_unit="us").dt.replace_time_zone("UTC")


def _parse_datetime(text: pl.Expr, formats: tuple[str, ...]) -> pl.Expr:
    attempts = []
    for fmt in formats or (*DATETIME_FORMATS, *DATE_FORMATS):
        if fmt in EPOCH_FORMATS:
            attempts.append(_epoch(text, fmt))
        elif "%z" in fmt:
            attempts.append(text.str.to_datetime(fmt, strict=False, exact=True,
                                                 time_zone="UTC", time_unit="us"))
        elif fmt in DATE_FORMATS or ("%H" not in fmt and "%d" in fmt):
            attempts.append(text.str.to_date(fmt, strict=False, exact=True)
                            .cast(pl.Datetime("us")).dt.replace_time_zone("UTC"))
        else:
            attempts.append(text.str.to_datetime(fmt, strict=False, exact=True, time_unit="us")
                            .dt.replace_time_zone("UTC"))
    return pl.coalesce(attempts)


def _category(text: pl.Expr, spec: ColumnSpec) -> pl.Expr:
    """Categories: trimmed; spelled as the contract spells them when the case differs."""
    if spec.type != "category" or not spec.allowed:
        return text.str.strip_chars() if spec.type == "category" else text
    canonical = {a.lower(): a for a in spec.allowed}
    return text.str.to_lowercase().replace_strict(
        list(canonical), list(canonical.values()), default=text, return_dtype=pl.String)


def _clean(col: pl.Expr, spec: ColumnSpec) -> pl.Expr:
    if spec.type == "string":
        return pl.when(col == "").then(None).otherwise(col)
    stripped = col.str.strip_chars()
    return pl.when(stripped.is_in(NULL_TOKENS)).then(None).otherwise(stripped)


def _present(col: pl.Expr, dtype: pl.DataType, kind: str = "") -> pl.Expr:
    if dtype == pl.String and kind == "string":
        return col.is_not_null() & (col != "")
    if dtype == pl.String:
        return col.is_not_null() & ~col.str.strip_chars().is_in(NULL_TOKENS)
    if dtype.is_float():
        return col.is_not_null() & ~col.is_nan()
    return col.is_not_null()


def _as_text(col: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.String:
        return col
    if dtype == pl.Boolean:
        return pl.when(col).then(pl.lit("true")).when(~col).then(pl.lit("false"))
    if isinstance(dtype, pl.Datetime):
        fmt = "%Y-%m-%dT%H:%M:%S%.f%:z" if dtype.time_zone else "%Y-%m-%dT%H:%M:%S%.f"
        return col.dt.to_string(fmt)
    if dtype == pl.Date:
        return col.dt.to_string("%Y-%m-%d")
    if isinstance(dtype, pl.List | pl.Struct | pl.Array):
        return col.cast(pl.String, strict=False)
    if dtype == pl.Null:
        return col.cast(pl.String)
    return col.cast(pl.String, strict=False)


def _canonical(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")
