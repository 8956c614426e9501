"""Drafting a contract from a sample: types, nullability, ranges, categories and roles,
each marked as a guess for a person to confirm."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import polars as pl
import yaml

from lockgate.data.contract import ColumnSpec, Contract
from lockgate.data.normalize import DATE_FORMATS, cast_expr
from lockgate.data.source import FileSource

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
    frame = present.to_frame("v")
    for kind in _ORDER:
        parsed = frame.select(cast_expr(pl.col("v"), pl.String(), ColumnSpec("v", kind)))
        if parsed.to_series().null_count() == 0:
            return kind
    return "string"


def infer_contract(sample: pl.DataFrame | str, table: str | None = None) -> DraftContract:
    """Draft a contract from a frame or a data file.

    Args:
        sample: a frame, or a path read like ``lockgate ingest`` reads it.
        table: the table name (default: the file's stem, or ``table``).
    """
    if isinstance(sample, str):
        name = table or re.sub(r"[^A-Za-z0-9_]+", "_", sample.rsplit("/", 1)[-1].split(".")[0])
        frame = FileSource(sample).read().frame
    else:
        name, frame = table or "table", sample
    guesses: dict[str, list[str]] = {}
    columns = [_column(frame, c, guesses) for c in frame.columns]
    roles = _roles(frame, columns, guesses)
    contract = Contract(table=name or "table", version="1", columns=tuple(columns), **roles)
    return DraftContract(contract, guesses)


def _column(frame: pl.DataFrame, source: str, guesses: dict[str, list[str]]) -> ColumnSpec:
    name = re.sub(r"[^0-9A-Za-z_]+", "_", source.strip()).strip("_") or "column"
    if name[0].isdigit():
        name = "c_" + name
    values = frame[source]
    kind = infer_type(values)
    notes = [f"type {kind} from {values.drop_nulls().len()} values"]
    text = values.cast(pl.String, strict=False)
    nulls = int(text.is_null().sum() + (text.str.strip_chars() == "").sum())
    nullable = nulls > 0
    notes.append("nullable: nulls seen" if nullable else "not nullable: no nulls in the sample")
    spec: dict[str, object] = {}
    if kind in ("int", "float"):
        parsed = frame.select(cast_expr(pl.col(source), values.dtype, ColumnSpec("v", kind)))
        series = parsed.to_series().drop_nulls()
        if series.len():
            low, high = float(series.min()), float(series.max())
            if low >= 0:
                spec["min"] = 0
                notes.append("min 0: no negative values seen")
            notes.append(f"observed range {low:g}..{high:g}")
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
