"""The data contract: one per table, saying what every column must look like.

A contract is plain data (YAML or a Python object): columns with types, constraints,
aliases and units; the table's roles (primary key, event time, entity, target); the
policies for schema change and duplicates; and a version recorded with every batch.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from lockgate.data.errors import ContractError
from lockgate.errors import close_matches, numbered

TYPES = ("int", "float", "bool", "string", "category", "date", "datetime")
SCHEMA_POLICIES = ("fail", "evolve", "quarantine")
DUPLICATE_POLICIES = ("keep_first", "quarantine")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")
_COLUMN_KEYS = {
    "name", "type", "nullable", "min", "max", "allowed", "regex", "unique", "max_length",
    "aliases", "unit", "formats", "description", "available",
}
#: When a column's value becomes known relative to the prediction time: at prediction
#: time (a usable feature), after the outcome (never a feature), or an offset after the
#: event time such as ``"2h"`` / ``"3d"`` (a feature only for predictions made that late).
AVAILABILITY = ("at_prediction", "after_outcome")
_OFFSET = re.compile(r"^\d+(\.\d+)?\s*(s|m|h|d|w)$")
_TABLE_KEYS = {
    "table", "version", "columns", "primary_key", "event_time", "entity", "target",
    "on_schema_change", "on_duplicate",
}


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One column of a contract: its type, constraints and the names sources may use."""

    name: str
    type: str
    nullable: bool = True
    min: float | None = None
    max: float | None = None
    allowed: tuple[str, ...] | None = None
    regex: str | None = None
    unique: bool = False
    max_length: int | None = None
    aliases: tuple[str, ...] = ()
    unit: str | None = None
    formats: tuple[str, ...] = ()
    description: str | None = None
    available: str = "at_prediction"

    @property
    def is_numeric(self) -> bool:
        """Whether min/max and scale statistics apply."""
        return self.type in ("int", "float")


@dataclass(frozen=True, slots=True)
class Contract:
    """A table's contract. Build with :meth:`from_yaml`, :meth:`from_dict` or directly.

    Example:
        >>> Contract("orders", "1", (ColumnSpec("order_id", "int", nullable=False),),
        ...          primary_key=("order_id",))
    """

    table: str
    version: str
    columns: tuple[ColumnSpec, ...]
    primary_key: tuple[str, ...] = ()
    event_time: str | None = None
    entity: str | None = None
    target: str | None = None
    on_schema_change: str = "fail"
    on_duplicate: str = "quarantine"
    _by_name: dict[str, ColumnSpec] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ContractError(
                f"{len(problems)} problem(s) in the contract for table `{self.table}`:\n"
                + numbered(problems)
            )
        self._by_name.update({c.name: c for c in self.columns})

    @property
    def column_names(self) -> list[str]:
        """Column names in contract order."""
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnSpec:
        """The column called ``name``.

        Raises:
            ContractError: no such column; suggests close matches.
        """
        try:
            return self._by_name[name]
        except KeyError:
            raise ContractError(
                f"Contract `{self.table}` v{self.version} has no column `{name}`."
                + close_matches(name, self.column_names)
            ) from None

    @property
    def feature_columns(self) -> list[str]:
        """Every column except primary key, target, event time and entity."""
        roles = set(self.primary_key) | {self.target, self.event_time, self.entity}
        return [c.name for c in self.columns if c.name not in roles]

    def with_changes(self, **changes: Any) -> Contract:
        """A copy with fields replaced (used by the ``evolve`` policy)."""
        return replace(self, _by_name={}, **changes)

    # -- serialisation -----------------------------------------------------------

    @classmethod
    def from_yaml(cls, path: str | Path) -> Contract:
        """Load a contract from a YAML file.

        Raises:
            ContractError: the file is missing, not YAML, or describes a bad contract.
        """
        path = Path(path)
        if not path.is_file():
            raise ContractError(
                f"Contract file {path} does not exist. Draft one with "
                f"`lockgate contract infer DATA.csv > {path.name}`."
            )
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ContractError(f"Contract file {path} is not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ContractError(f"Contract file {path} must hold a mapping, found "
                                f"{type(loaded).__name__}.")
        try:
            return cls.from_dict(loaded)
        except ContractError as exc:
            raise ContractError(f"{path}: {exc}") from exc

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Contract:
        """Build a contract from plain data (the YAML layout).

        Raises:
            ContractError: unknown keys, missing fields or bad values, all listed at once.
        """
        problems = [f"unknown key `{k}`." + close_matches(k, _TABLE_KEYS)
                    for k in data if k not in _TABLE_KEYS]
        for key in ("table", "columns"):
            if key not in data:
                problems.append(f"missing key `{key}`.")
        raw_columns = data.get("columns") or []
        if not isinstance(raw_columns, list):
            problems.append("`columns` must be a list of column mappings.")
            raw_columns = []
        columns = []
        for i, raw in enumerate(raw_columns):
            if not isinstance(raw, dict) or "name" not in raw or "type" not in raw:
                problems.append(f"column #{i + 1} needs at least `name` and `type`.")
                continue
            unknown = [k for k in raw if k not in _COLUMN_KEYS]
            problems += [f"column `{raw['name']}`: unknown key `{k}`."
                         + close_matches(k, _COLUMN_KEYS) for k in unknown]
            columns.append(_column({k: v for k, v in raw.items() if k in _COLUMN_KEYS}))
        if problems:
            # Also the problems the built contract would report (a key that names no
            # column, a bad type...): one round of fixes, not two.
            problems += [p for p in _problems(_draft(data, columns)) if p not in problems]
            raise ContractError(
                f"{len(problems)} problem(s) in the contract for table "
                f"`{data.get('table', '?')}`:\n" + numbered(problems)
            )
        return cls(
            table=str(data["table"]), version=str(data.get("version", "1")),
            columns=tuple(columns),
            primary_key=_tuple(data.get("primary_key")) or (),
            event_time=data.get("event_time"), entity=data.get("entity"),
            target=data.get("target"),
            on_schema_change=data.get("on_schema_change", "fail"),
            on_duplicate=data.get("on_duplicate", "quarantine"),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data in the YAML layout, omitting defaults."""
        defaults = asdict(ColumnSpec("x", "int"))
        columns = []
        for col in self.columns:
            d = asdict(col)
            columns.append({k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()
                            if k in ("name", "type") or v != defaults[k]})
        out: dict[str, Any] = {"table": self.table, "version": self.version}
        for key in ("primary_key", "event_time", "entity", "target"):
            value = getattr(self, key)
            if value:
                out[key] = list(value) if isinstance(value, tuple) else value
        out["on_schema_change"] = self.on_schema_change
        out["on_duplicate"] = self.on_duplicate
        out["columns"] = columns
        return out

    def to_yaml(self) -> str:
        """The contract as YAML text."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)


def load_contract(contract: Contract | str | Path | dict[str, Any]) -> Contract:
    """Accept a contract object, a YAML path or plain data."""
    if isinstance(contract, Contract):
        return contract
    if isinstance(contract, dict):
        return Contract.from_dict(contract)
    return Contract.from_yaml(contract)


def check_table_name(table: str) -> str:
    """Table names become folder names: allow only letters, digits, ``_`` and ``-``.

    Raises:
        ContractError: the name could escape the data root or is empty.
    """
    if not isinstance(table, str) or not _TABLE.match(table):
        raise ContractError(
            f"Invalid table name {table!r}: use letters, digits, `_` and `-` "
            "(starting with a letter or `_`, at most 64 characters)."
        )
    return table


def _column(raw: dict[str, Any]) -> ColumnSpec:
    return ColumnSpec(
        name=str(raw["name"]), type=str(raw["type"]), nullable=bool(raw.get("nullable", True)),
        min=raw.get("min"), max=raw.get("max"),
        allowed=_tuple(raw.get("allowed")), regex=raw.get("regex"),
        unique=bool(raw.get("unique", False)), max_length=raw.get("max_length"),
        aliases=_tuple(raw.get("aliases")) or (), unit=raw.get("unit"),
        formats=_tuple(raw.get("formats")) or (), description=raw.get("description"),
        available=str(raw.get("available", "at_prediction")),
    )


def _tuple(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _draft(data: dict[str, Any], columns: list[ColumnSpec]) -> Any:
    """The fields a contract would have, unvalidated (for listing every problem)."""
    return SimpleNamespace(
        table=str(data.get("table") or "unnamed"), columns=tuple(columns),
        primary_key=_tuple(data.get("primary_key")) or (), event_time=data.get("event_time"),
        entity=data.get("entity"), target=data.get("target"),
        on_schema_change=data.get("on_schema_change", "fail"),
        on_duplicate=data.get("on_duplicate", "quarantine"))


def _problems(contract: Contract) -> list[str]:
    problems: list[str] = []
    if not _TABLE.match(str(contract.table)):
        problems.append(f"table name {contract.table!r} must use letters, digits, `_`, `-`.")
    if not contract.columns:
        problems.append("a contract needs at least one column.")
    names = [c.name for c in contract.columns]
    seen: set[str] = set()
    for col in contract.columns:
        problems += _column_problems(col, seen)
        seen.add(col.name)
        seen.update(col.aliases)
    for key in ("event_time", "entity", "target"):
        value = getattr(contract, key)
        if value is not None and value not in names:
            problems.append(f"{key} `{value}` is not a column." + close_matches(value, names))
    for key in contract.primary_key:
        if key not in names:
            problems.append(f"primary key `{key}` is not a column." + close_matches(key, names))
    if contract.event_time in names:
        kind = next(c.type for c in contract.columns if c.name == contract.event_time)
        if kind not in ("date", "datetime"):
            problems.append(f"event_time `{contract.event_time}` must be a date or datetime, "
                            f"not {kind}.")
    if contract.on_schema_change not in SCHEMA_POLICIES:
        problems.append(f"on_schema_change `{contract.on_schema_change}` must be one of "
                        f"{', '.join(SCHEMA_POLICIES)}.")
    if contract.on_duplicate not in DUPLICATE_POLICIES:
        problems.append(f"on_duplicate `{contract.on_duplicate}` must be one of "
                        f"{', '.join(DUPLICATE_POLICIES)}.")
    return problems


def _column_problems(col: ColumnSpec, seen: set[str]) -> list[str]:
    problems = []
    where = f"column `{col.name}`"
    if not _NAME.match(col.name):
        problems.append(f"{where}: name must use letters, digits and `_`.")
    if col.name in seen:
        problems.append(f"{where}: name or alias used twice.")
    if col.type not in TYPES:
        problems.append(f"{where}: type `{col.type}` is not one of {', '.join(TYPES)}."
                        + close_matches(col.type, TYPES))
    if (col.min is not None or col.max is not None) and not col.is_numeric:
        problems.append(f"{where}: min/max apply to int and float columns only.")
    for key in ("min", "max"):
        value = getattr(col, key)
        if value is not None and not isinstance(value, int | float):
            problems.append(f"{where}: {key} must be a number, found {value!r}.")
    if (isinstance(col.min, int | float) and isinstance(col.max, int | float)
            and col.min > col.max):
        problems.append(f"{where}: min {col.min} is greater than max {col.max}.")
    if col.regex is not None:
        try:
            re.compile(col.regex)
        except re.error as exc:
            problems.append(f"{where}: regex {col.regex!r} does not compile: {exc}.")
    if col.max_length is not None and (not isinstance(col.max_length, int)
                                       or col.max_length <= 0):
        problems.append(f"{where}: max_length must be a positive integer.")
    if col.formats and col.type not in ("date", "datetime"):
        problems.append(f"{where}: formats apply to date and datetime columns only.")
    if col.available not in AVAILABILITY and not _OFFSET.match(str(col.available)):
        problems.append(f"{where}: available `{col.available}` must be at_prediction, "
                        "after_outcome or an offset after the event time such as 2h or 3d.")
    return problems
