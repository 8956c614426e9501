"""The data contract: one per table, saying what every column must look like.

A contract is plain data (YAML or a Python object): columns with types, constraints,
aliases and units; the table's roles (primary key, event time, entity, target); the
policies for schema change and duplicates; and a version recorded with every batch.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal, TypeAlias

import polars as pl
import yaml

from lockgate.data.errors import ContractError
from lockgate.errors import close_matches, numbered


class ColumnType(StrEnum):
    """The types a contract column may declare (stored as the text)."""

    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    STRING = "string"
    CATEGORY = "category"
    DATE = "date"
    DATETIME = "datetime"


class SchemaChangePolicy(StrEnum):
    """What ``on_schema_change`` may say for a kind of change (see :class:`SchemaPolicy`)."""

    FAIL = "fail"
    EVOLVE = "evolve"
    QUARANTINE = "quarantine"
    IGNORE = "ignore"


TYPES: tuple[ColumnType, ...] = tuple(ColumnType)
#: The Polars type each contract type lands as: written once, read by normalisation (the
#: versioned tables), the prediction log and batch scoring alike.
POLARS_TYPES: dict[str, pl.DataType] = {
    ColumnType.INT: pl.Int64(), ColumnType.FLOAT: pl.Float64(), ColumnType.BOOL: pl.Boolean(),
    ColumnType.STRING: pl.String(), ColumnType.CATEGORY: pl.String(),
    ColumnType.DATE: pl.Date(), ColumnType.DATETIME: pl.Datetime("us", "UTC"),
}
SchemaPolicyName = Literal["fail", "evolve", "quarantine", "ignore"]
ChangeKind = Literal["new", "missing", "renamed", "retyped"]
SCHEMA_POLICIES: tuple[SchemaChangePolicy, ...] = tuple(SchemaChangePolicy)
CHANGE_KINDS: tuple[ChangeKind, ...] = ("new", "missing", "renamed", "retyped")
#: Epoch formats a date/datetime column may declare in ``formats:``.
EPOCH_FORMATS = ("epoch_s", "epoch_ms")
DUPLICATE_POLICIES = ("keep_first", "quarantine")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")
_COLUMN_KEYS = {
    "name", "type", "nullable", "min", "max", "allowed", "regex", "unique", "max_length",
    "aliases", "unit", "formats", "description", "available", "feature",
}
#: When a column's value becomes known relative to the prediction time: at prediction
#: time (a usable feature), after the outcome (never a feature), or an offset after the
#: event time such as ``"2h"`` / ``"3d"`` (a feature only for predictions made that late).
AVAILABILITY = ("at_prediction", "after_outcome")
_OFFSET = re.compile(r"^\d+(\.\d+)?\s*(s|m|h|d|w)$")
_TABLE_KEYS = {
    "table", "version", "columns", "primary_key", "event_time", "entity", "target",
    "on_schema_change", "on_duplicate", "max_quarantine_share",
}


@dataclass(frozen=True, slots=True)
class SchemaPolicy:
    """What to do per kind of schema change (``on_schema_change`` in the contract).

    Written as one word for every kind (``on_schema_change: fail``) or per kind
    (``on_schema_change: {new: ignore, missing: fail, renamed: evolve, retyped: fail}``);
    kinds left out of the mapping are ``fail``.

    - ``fail``: nothing lands; the error names the change.
    - ``evolve``: the contract follows the data under a new version (a new column is
      added with ``feature: false``, so no model uses it without opt-in; a missing one
      becomes nullable; a rename becomes an alias; a retyped column keeps its type and
      its rows are quarantined row by row).
    - ``quarantine``: the whole batch goes to quarantine with ``schema:<kind>:<column>``.
    - ``ignore``: rows are accepted without the change (a new column is dropped, a missing
      one is null); the change is recorded in the version and shown as a warning.
    """

    new: SchemaPolicyName = "fail"
    missing: SchemaPolicyName = "fail"
    renamed: SchemaPolicyName = "fail"
    retyped: SchemaPolicyName = "fail"

    @classmethod
    def parse(cls, value: Any) -> SchemaPolicy:
        """From the YAML value: a policy name or a per-kind mapping (unknowns kept, so
        the contract's check can list them all)."""
        if isinstance(value, SchemaPolicy):
            return value
        if isinstance(value, dict):
            unknown = [str(k) for k in value if k not in CHANGE_KINDS]
            if unknown:
                raise ContractError(
                    f"on_schema_change: unknown change kind(s) {', '.join(unknown)}; the "
                    f"kinds are {', '.join(CHANGE_KINDS)}." + close_matches(unknown[0],
                                                                            CHANGE_KINDS))
            return cls(**{k: value.get(k, "fail") for k in CHANGE_KINDS})
        return cls(value, value, value, value)

    def for_kind(self, kind: str) -> SchemaPolicyName:
        """The policy of one change kind."""
        return getattr(self, kind)

    def to_yaml_value(self) -> str | dict[str, str]:
        """One word when every kind agrees, else the mapping."""
        values: dict[str, str] = {k: self.for_kind(k) for k in CHANGE_KINDS}
        return self.new if len(set(values.values())) == 1 else values

    def __str__(self) -> str:
        value = self.to_yaml_value()
        return value if isinstance(value, str) else ", ".join(f"{k}: {v}"
                                                              for k, v in value.items())


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One column of a contract: its type, constraints and the names sources may use."""

    name: str
    type: str
    nullable: bool = True
    min: float | str | None = None
    max: float | str | None = None
    allowed: tuple[str, ...] | None = None
    regex: str | None = None
    unique: bool = False
    max_length: int | None = None
    aliases: tuple[str, ...] = ()
    unit: str | None = None
    formats: tuple[str, ...] = ()
    description: str | None = None
    available: str = "at_prediction"
    feature: bool = True

    @property
    def is_numeric(self) -> bool:
        """Whether scale statistics apply."""
        return self.type in ("int", "float")

    @property
    def is_temporal(self) -> bool:
        """A date or datetime column (ISO bounds, ``formats:``)."""
        return self.type in ("date", "datetime")

    @property
    def allowed_json(self) -> tuple[Any, ...] | None:
        """``allowed`` as JSON values: numbers for int and float columns (``[0, 1]``),
        the text otherwise; None when any value is allowed."""
        if self.allowed is None or self.type not in ("int", "float"):
            return self.allowed
        return tuple(_number_text(v) for v in self.allowed)

    @property
    def polars_dtype(self) -> pl.DataType:
        """The Polars type this column lands as (:data:`POLARS_TYPES`)."""
        return POLARS_TYPES[self.type]

    def bound(self, key: str) -> Any:
        """``min`` or ``max`` as a value comparable with the column (a date for date
        columns, an aware UTC datetime for datetime columns, else the number)."""
        value = getattr(self, key)
        if value is None or not self.is_temporal:
            return value
        return _temporal(value, self.type)


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
    on_schema_change: SchemaPolicy | str = "fail"
    on_duplicate: str = "quarantine"
    max_quarantine_share: float | None = None
    _by_name: dict[str, ColumnSpec] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "on_schema_change", SchemaPolicy.parse(self.on_schema_change))
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
        """Every column except primary key, target, event time, entity and the columns
        marked ``feature: false`` (which is how ``evolve`` adds a new column, so a model
        never starts using a column nobody chose)."""
        roles = set(self.primary_key) | {self.target, self.event_time, self.entity}
        return [c.name for c in self.columns if c.name not in roles and c.feature]

    @property
    def features(self) -> tuple[ColumnSpec, ...]:
        """The specs of :attr:`feature_columns`, in contract order."""
        return tuple(self._by_name[name] for name in self.feature_columns)

    @property
    def schema_policy(self) -> SchemaPolicy:
        """``on_schema_change`` as a per-kind policy."""
        return SchemaPolicy.parse(self.on_schema_change)

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
            try:
                extra = _problems(_draft(data, columns))
            except ContractError as exc:  # e.g. an unknown change kind in the policy
                extra = [str(exc)]
            problems += [p for p in extra if p not in problems]
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
            max_quarantine_share=data.get("max_quarantine_share"),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data in the YAML layout, omitting defaults."""
        defaults = asdict(ColumnSpec("x", "int"))
        columns = []
        for col in self.columns:
            d = asdict(col)
            if col.allowed is not None:
                d["allowed"] = col.allowed_json  # [0, 1] for numbers
            columns.append({k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()
                            if k in ("name", "type") or v != defaults[k]})
        out: dict[str, Any] = {"table": self.table, "version": self.version}
        for key in ("primary_key", "event_time", "entity", "target"):
            value = getattr(self, key)
            if value:
                out[key] = list(value) if isinstance(value, tuple) else value
        out["on_schema_change"] = self.schema_policy.to_yaml_value()
        out["on_duplicate"] = self.on_duplicate
        if self.max_quarantine_share is not None:
            out["max_quarantine_share"] = self.max_quarantine_share
        out["columns"] = columns
        return out

    def to_yaml(self) -> str:
        """The contract as YAML text."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)


#: What a public function accepts as a contract: the object, its YAML path or its data.
ContractInput: TypeAlias = "Contract | str | Path | Mapping[str, object]"


def load_contract(contract: ContractInput) -> Contract:
    """Accept a contract object, a YAML path or plain data."""
    if isinstance(contract, Contract):
        return contract
    if isinstance(contract, Mapping):
        return Contract.from_dict(dict(contract))
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
        min=_bound_text(raw.get("min")), max=_bound_text(raw.get("max")),
        allowed=_tuple(raw.get("allowed")), regex=raw.get("regex"),
        unique=bool(raw.get("unique", False)), max_length=raw.get("max_length"),
        aliases=_tuple(raw.get("aliases")) or (), unit=raw.get("unit"),
        formats=_tuple(raw.get("formats")) or (), description=raw.get("description"),
        available=str(raw.get("available", "at_prediction")),
        feature=bool(raw.get("feature", True)),
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
        schema_policy=SchemaPolicy.parse(data.get("on_schema_change", "fail")),
        on_duplicate=data.get("on_duplicate", "quarantine"),
        max_quarantine_share=data.get("max_quarantine_share"))


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
    problems += _policy_problems(contract.schema_policy)
    share = contract.max_quarantine_share
    if share is not None and (isinstance(share, bool) or not isinstance(share, int | float)
                              or not 0 <= share <= 1):
        problems.append(f"max_quarantine_share must be a number from 0 to 1 (a share of "
                        f"the batch), found {share!r}.")
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
    problems += _bound_problems(col, where)
    if col.allowed is not None and col.type in ("int", "float"):
        bad = [a for a in col.allowed if _number(a) is None]
        if bad:
            problems.append(f"{where}: allowed values of a {col.type} column must be "
                            f"numbers, found {', '.join(map(repr, bad))}.")
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


def _bound_problems(col: ColumnSpec, where: str) -> list[str]:
    if col.min is None and col.max is None:
        return []
    if not (col.is_numeric or col.is_temporal):
        return [f"{where}: min/max apply to int, float, date and datetime columns only."]
    problems = []
    for key in ("min", "max"):
        value = getattr(col, key)
        if value is None:
            continue
        if col.is_numeric and (isinstance(value, bool) or not isinstance(value, int | float)):
            problems.append(f"{where}: {key} must be a number, found {value!r}.")
        elif col.is_temporal and _temporal(value, col.type) is None:
            problems.append(f"{where}: {key} must be an ISO {col.type} such as "
                            f"{'2024-01-31' if col.type == 'date' else '2024-01-31T00:00:00Z'}"
                            f", found {value!r}.")
    if not problems and col.min is not None and col.max is not None \
            and col.bound("min") > col.bound("max"):
        problems.append(f"{where}: min {col.min} is greater than max {col.max}.")
    return problems


def _policy_problems(policy: SchemaPolicy) -> list[str]:
    bad = {k: policy.for_kind(k) for k in CHANGE_KINDS
           if policy.for_kind(k) not in SCHEMA_POLICIES}
    if not bad:
        return []
    if len(set(bad.values())) == 1 and len(bad) == len(CHANGE_KINDS):
        return [f"on_schema_change `{policy.new}` must be one of {', '.join(SCHEMA_POLICIES)}."]
    return [f"on_schema_change.{k} `{v}` must be one of {', '.join(SCHEMA_POLICIES)}."
            for k, v in bad.items()]


def _bound_text(value: Any) -> Any:
    """YAML reads ``2024-01-31`` as a date: keep temporal bounds as ISO text."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _temporal(value: Any, kind: str) -> dt.date | dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if kind == "date":
        return parsed.date()
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None \
        else parsed.astimezone(dt.UTC)


def _number_text(value: str) -> Any:
    number = _number(value)
    if number is None:
        return value
    return int(number) if number.is_integer() and "." not in str(value) else number


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
