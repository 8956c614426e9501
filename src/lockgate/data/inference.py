"""Drafting a contract from a sample: types, nullability, ranges, categories and roles,
each marked as a guess for a person to confirm."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl
import yaml

from lockgate.data.contract import ColumnSpec, Contract
from lockgate.data.errors import ContractError
from lockgate.data.normalize import DATE_FORMATS, cast_expr
from lockgate.data.source import CsvDialect, FileSource
from lockgate.errors import close_matches, numbered

#: Try types from the most to the least specific; the first that parses every value wins.
_ORDER = ("bool", "int", "float", "date", "datetime")
_MAX_CATEGORIES = 30


@dataclass(frozen=True, slots=True)
class DraftContract:
    """An inferred contract and, per column or role, what was guessed and why."""

    contract: Contract
    guesses: dict[str, list[str]] = field(default_factory=dict)

    def to_yaml(self) -> str:
        """YAML with a ``# GUESS:`` comment over each inferred choice."""
        lines = ["# Drafted by `lockgate contract infer`. Lines marked GUESS were inferred",
                 "# from a sample: confirm or fix them before ingesting.", ""]
        body = yaml.safe_dump(self.contract.to_dict(), sort_keys=False, allow_unicode=True)
        for line in body.splitlines():
            match = re.match(r"^(\s*)(?:- )?name: (.+)$", line)
            key = match.group(2).strip("'\"") if match else line.split(":")[0].strip()
            notes = self.guesses.get(key) if match or not line.startswith(" ") else None
            if notes:
                indent = match.group(1) if match else ""
                lines.append(f"{indent}# GUESS: {'; '.join(notes)}")
            lines.append(line)
        return "\n".join(lines) + "\n"


def infer_type(values: pl.Series) -> str:
    """The most specific contract type every non-null value of ``values`` parses as."""
    text = values.cast(pl.String, strict=False) if values.dtype != pl.String else values
    present = text.drop_nulls().str.strip_chars()
    present = present.filter(present != "")
    if present.is_empty():
        return "string"
    if present.is_in(["0", "1"]).all():
        return "int"  # a 0/1 label is an int category, so "yes" is not a valid label
    frame = present.to_frame("v")
    for kind in _ORDER:
        parsed = frame.select(cast_expr(pl.col("v"), pl.String(), ColumnSpec("v", kind)))
        if parsed.to_series().null_count() == 0:
            return kind
    return "string"


def infer_contract(sample: pl.DataFrame | str, table: str | None = None, *,
                   target: str | None = None, primary_key: Sequence[str] | None = None,
                   event_time: str | None = None, entity: str | None = None,
                   dialect: CsvDialect | None = None) -> DraftContract:
    """Draft a contract from a frame or a data file.

    Args:
        sample: a frame, or a path read like ``lockgate ingest`` reads it.
        table: the table name (default: the file's stem, or ``table``).
        target, primary_key, event_time, entity: the roles, when you know them (a
            source column name or its contract name); the others are guessed.
        dialect: how a CSV sample is written (default: sniffed).

    Raises:
        ContractError: a given role names no column.
    """
    if isinstance(sample, str):
        name = table or re.sub(r"[^A-Za-z0-9_]+", "_", sample.rsplit("/", 1)[-1].split(".")[0])
        frame = FileSource(sample, dialect=dialect or CsvDialect()).read().frame
    else:
        name, frame = table or "table", sample
    guesses: dict[str, list[str]] = {}
    columns = [_column(frame, c, guesses) for c in frame.columns]
    guessed = _roles(frame, columns, guesses)
    given = _given_roles(columns, target=target, primary_key=primary_key,
                         event_time=event_time, entity=entity)
    for role in given:
        guesses.pop(role, None)
    roles: dict[str, Any] = {**guessed, **given}
    columns = _open_ended_ids(columns, roles, guesses)
    contract = Contract(table=name or "table", version="1", columns=tuple(columns), **roles)
    return DraftContract(contract, guesses)


def _given_roles(columns: list[ColumnSpec], **roles: Any) -> dict[str, Any]:
    by_source = {a: c.name for c in columns for a in (c.name, *c.aliases)}
    out: dict[str, Any] = {}
    problems = []
    for role, value in roles.items():
        if value is None:
            continue
        names = [value] if isinstance(value, str) else list(value)
        found = [by_source.get(n) for n in names]
        problems += [f"--{role.replace('_', '-')} `{n}` is not a column of the sample."
                     + close_matches(n, list(by_source)) for n, f in zip(names, found,
                                                                         strict=True) if f is None]
        resolved = [f for f in found if f is not None]
        first = resolved[0] if resolved else None
        out[role] = tuple(resolved) if role == "primary_key" else first
    if problems:
        raise ContractError(f"{len(problems)} problem(s) with the roles:\n" + numbered(problems))
    return out


def _column(frame: pl.DataFrame, source: str, guesses: dict[str, list[str]]) -> ColumnSpec:
    name = re.sub(r"[^0-9A-Za-z_]+", "_", source.strip()).strip("_") or "column"
    if name[0].isdigit():
        name = "c_" + name
    values = frame[source]
    kind = infer_type(values)
    notes = [f"type {kind} from {values.drop_nulls().len()} values"]
    text = values.cast(pl.String, strict=False)
    nulls = int(text.is_null().sum()) + int((text.str.strip_chars() == "").sum())
    nullable = nulls > 0
    notes.append("nullable: nulls seen" if nullable else "not nullable: no nulls in the sample")
    spec: dict[str, object] = {}
    if kind in ("int", "float", "date", "datetime"):
        parsed = frame.select(cast_expr(pl.col(source), values.dtype, ColumnSpec("v", kind)))
        series = parsed.to_series().drop_nulls()
        if series.len():
            spec.update(_bounds(series, kind, notes))
    if kind == "int" and text.drop_nulls().str.strip_chars().is_in(["0", "1"]).all():
        spec = {"allowed": ("0", "1")}
        notes[0] = "int category: only 0 and 1 seen (a label or a flag)"
    if kind == "string":
        distinct = text.drop_nulls().str.strip_chars().unique()
        if 0 < distinct.len() <= _MAX_CATEGORIES and distinct.len() * 4 <= values.len():
            kind = "category"
            spec["allowed"] = tuple(sorted(distinct.to_list()))
            notes[0] = f"category: {distinct.len()} distinct values in {values.len()} rows"
    aliases = (source,) if name != source else ()
    formats = DATE_FORMATS if kind == "date" else ()
    guesses[name] = notes
    return ColumnSpec(name=name, type=kind, nullable=nullable, aliases=aliases,
                      formats=formats, **spec)  # type: ignore[arg-type]


def _open_ended_ids(columns: list[ColumnSpec], roles: dict[str, Any],
                    guesses: dict[str, list[str]]) -> list[ColumnSpec]:
    """Keys and entities grow past anything in a sample: no ``max`` for them."""
    ids = set(roles.get("primary_key") or ()) | {roles.get("entity")}
    out = []
    for col in columns:
        if col.name in ids and col.max is not None:
            col = replace(col, max=None)
            guesses[col.name] = [n for n in guesses.get(col.name, [])
                                 if not n.startswith("range")] + ["no max: an id grows"]
        out.append(col)
    return out


def _bounds(series: pl.Series, kind: str, notes: list[str]) -> dict[str, object]:
    """Plausible bounds: the 1st-99th percentile range widened by its own span on each
    side (never narrower than what the sample holds), so values far outside anything
    seen are caught while the sample itself passes. Never below 0 when nothing was."""
    numeric = series.cast(pl.Int64) if kind in ("date", "datetime") else series
    if kind == "date":
        numeric = series.cast(pl.Int32).cast(pl.Int64)
    low, high = float(numeric.min()), float(numeric.max())  # type: ignore[arg-type]
    q01 = float(numeric.quantile(0.01) or low)
    q99 = float(numeric.quantile(0.99) or high)
    span = max(q99 - q01, abs(q99) * 0.1, 1.0)
    lo, hi = min(low, q01 - span), max(high, q99 + span)
    if kind in ("date", "datetime"):  # new data comes later: leave at least a year
        year = 365 if kind == "date" else 365 * 86_400 * 1_000_000
        hi = max(hi, high + year)
    if low >= 0:
        lo = max(lo, 0.0)
    if kind == "float":
        bounds: dict[str, object] = {"min": _round_down(lo), "max": _round_up(hi)}
        notes.append(f"range {bounds['min']:g}..{bounds['max']:g}: percentiles 1-99 "
                     f"({q01:g}..{q99:g}) widened by their span; seen {low:g}..{high:g}")
        return bounds
    if kind == "int":
        bounds = {"min": math.floor(lo), "max": math.ceil(hi)}
        notes.append(f"range {bounds['min']}..{bounds['max']}: percentiles 1-99 "
                     f"({q01:g}..{q99:g}) widened by their span; seen {low:g}..{high:g}")
        return bounds
    as_text = _dates if kind == "date" else _datetimes
    bounds = {"min": as_text(lo), "max": as_text(hi)}
    notes.append(f"range {bounds['min']}..{bounds['max']}: the sample's period "
                 f"({as_text(low)}..{as_text(high)}) widened by its span")
    return bounds


def _dates(days: float) -> str:
    return (dt.date(1970, 1, 1) + dt.timedelta(days=math.floor(days))).isoformat()


def _datetimes(micros: float) -> str:
    moment = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=micros)
    return moment.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _round_down(value: float) -> float:
    return _nice(value, math.floor)


def _round_up(value: float) -> float:
    return _nice(value, math.ceil)


def _nice(value: float, direction: Any) -> float:
    """Two significant digits, rounded outward."""
    if value == 0:
        return 0.0
    step = 10 ** (math.floor(math.log10(abs(value))) - 1)
    return float(direction(value / step) * step)


def _roles(frame: pl.DataFrame, columns: list[ColumnSpec],
           guesses: dict[str, list[str]]) -> dict[str, object]:
    roles: dict[str, object] = {}
    by_name = {c.name: c for c in columns}
    sources = dict(zip(by_name, frame.columns, strict=True))
    for col in columns:
        lower = col.name.lower()
        series = frame[sources[col.name]]
        if "primary_key" not in roles and (lower == "id" or lower.endswith("_id")) \
                and series.null_count() == 0 and series.n_unique() == series.len():
            roles["primary_key"] = (col.name,)
            roles.setdefault("entity", col.name)
            guesses.setdefault("primary_key", []).append(f"`{col.name}` is unique and non-null")
        elif "entity" not in roles and lower.endswith("_id"):
            roles["entity"] = col.name
            guesses.setdefault("entity", []).append(f"`{col.name}` looks like an id")
        if "event_time" not in roles and col.type in ("datetime", "date"):
            roles["event_time"] = col.name
            guesses.setdefault("event_time", []).append(f"first timestamp column `{col.name}`")
        if lower in ("target", "label", "y", "churned", "churn", "class", "outcome"):
            roles["target"] = col.name
            guesses.setdefault("target", []).append(f"`{col.name}` is named like a target")
    return roles
