"""Validation at the door: the contract compiled to Polars expressions, evaluated in one
pass, giving each row either acceptance or one or more reason codes.

Reason codes read ``<check>:<column>`` (the vocabulary is :mod:`lockgate.data.check_name`):
``null:customer_id``, ``range:amount``,
``parse:signup_date`` (dates and timestamps), ``type:age`` (other types),
``allowed:plan``, ``regex:email``, ``length:name``, ``unique:email``,
``duplicate:order_id`` (primary key, per ``on_duplicate``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from lockgate.data.check_name import CheckKind, check_name
from lockgate.data.check_result import CheckLevel, CheckResult, ValidationStatus
from lockgate.data.contract import ColumnSpec, Contract
from lockgate.data.normalize import PARSE_FAIL, RAW, _as_text
from lockgate.data.repeats import later_repeat, repeated, repeated_rows

#: Hidden columns set when a row's features and label conflict with a landed row's:
#: the flag and the version that landed the other row (see ``label_conflicts``).
LANDED_CONFLICT = "__lconf__"
LANDED_CONFLICT_VERSION = "__lconf_v__"

REASONS = "reasons"
ROW = "row"
RAW_JSON = "raw"


@dataclass(frozen=True, slots=True)
class Check:
    """One row-level check: a name (the reason code) and an expression true on failure."""

    name: str
    failed: pl.Expr
    #: Text appended to the reason code of each failing row (``conflict:y#<group>``).
    detail: pl.Expr | None = None


@dataclass(frozen=True, slots=True)
class ValidationOutcome:
    """What the door decided for one batch.

    Attributes:
        accepted: the rows that passed, contract columns only.
        quarantined: failed rows: ``row`` (position in the batch), ``reasons``
            (list of codes), ``raw`` (the source values as JSON text).
        counts: failures per check name.
        rows: rows validated.
    """

    accepted: pl.DataFrame
    quarantined: pl.DataFrame
    counts: dict[str, int]
    rows: int
    checks: list[str] = field(default_factory=list)
    #: Copies of a row that already landed (or came earlier in the batch): not new rows,
    #: so neither accepted nor quarantined (a producer's retry lands once).
    deduplicated: int = 0
    #: Accepted rows whose primary key had landed: they replace it (upsert mode).
    updated: int = 0
    #: Positions in the batch of the copies.
    copy_rows: tuple[int, ...] = ()

    @property
    def reasons(self) -> dict[str, int]:
        """Rows per reason code, only the codes that occurred."""
        return {k: v for k, v in sorted(self.counts.items()) if v}

    def check_results(self) -> dict[str, CheckResult]:
        """One record per row-level check: it holds (its failing rows are quarantined,
        row by row), with the counts."""
        return {name: CheckResult(name, ValidationStatus.PASSED, CheckLevel.ROW,
                                  passed=self.rows - self.counts[name],
                                  failed=self.counts[name]) for name in self.checks}

    def checks_record(self) -> dict[str, dict[str, Any]]:
        """The per-check record stored with the dataset version (its stored form)."""
        return {name: r.to_dict() for name, r in self.check_results().items()}


def compile_checks(contract: Contract, existing: pl.DataFrame | None = None, *,
                   upsert: bool = False, hidden: frozenset[str] = frozenset(),
                   batch_keys_unique: bool = False) -> list[Check]:
    """Compile a contract to row-level checks.

    Args:
        contract: the contract.
        existing: key and unique columns already in the table, so a row repeating a
            landed key fails ``duplicate:``/``unique:`` too.
        hidden: the hidden columns the frame carries (conflicts with landed rows),
            which the checks then read.
        batch_keys_unique: no primary key repeats within the frame (already known, so
            the in-batch duplicate test is not run twice).
    """
    checks: list[Check] = []
    for spec in contract.columns:
        checks += _column_checks(spec, existing)
    if contract.primary_key:
        checks.append(_duplicate_check(contract, None if upsert else existing,
                                       batch_keys_unique))
    conflict = _conflict_check(contract, hidden)
    if conflict is not None:
        checks.append(conflict)
    return checks


def validate(frame: pl.DataFrame, contract: Contract, *,
             existing: pl.DataFrame | None = None, landed_rows: pl.DataFrame | None = None,
             dedupe_key: tuple[str, ...] = (), upsert: bool = False,
             source_text: Callable[[Any], pl.DataFrame] | None = None) -> ValidationOutcome:
    """Evaluate every check in one pass over a normalised frame.

    Before the checks, copies are set aside (see :func:`copies`): they are neither
    accepted nor quarantined, so a source's retry lands once and is never refused.

    Args:
        frame: output of :func:`lockgate.data.normalize.normalize`.
        contract: the contract the frame was normalised to.
        existing: key/unique columns already landed in the table (may be None).
        landed_rows: the landed rows whose primary key the batch repeats.
        dedupe_key: columns identifying an event (a declared event id): a row whose
            value already landed, or came earlier in the batch, is a copy.
        upsert: a row repeating a landed primary key replaces it instead of failing
            ``duplicate:``.
        source_text: the source text of rows by position, when the frame's ``__src__``
            columns hold values typed at read (see ``normalize``): the quarantined rows'
            raw values are read from it, as the source wrote them.

    Returns:
        The accepted rows, the quarantined rows with reasons and raw values (``row``
        is the position in the batch as given), counts.
    """
    raw_cols = [c for c in frame.columns if c.startswith(RAW)]
    copy, keys_unique = _copies(frame, contract, raw_cols, existing, landed_rows, dedupe_key)
    positions = None
    if copy.any():
        positions = copy.not_().arg_true()
        frame = frame.filter(~copy)
    hidden = frozenset(c for c in frame.columns if c.startswith("__lconf"))
    checks = compile_checks(contract, existing, upsert=upsert, hidden=hidden,
                            batch_keys_unique=keys_unique)
    names = contract.column_names
    verdict = evaluate(frame, checks)
    accepted = frame.select(names).filter(~verdict.mask)
    reasons = verdict.reasons
    if positions is not None:
        reasons = reasons.with_columns(positions.gather(reasons[ROW]).cast(pl.Int64).alias(ROW))
    if source_text is not None and reasons.height:
        text = source_text(reasons[ROW].to_numpy())
        raw = text.select(raw_json([RAW + c for c in text.columns], text.columns)
                          .alias(RAW_JSON))
    else:
        raw = frame.select(raw_cols).filter(verdict.mask).select(
            raw_json(raw_cols).alias(RAW_JSON))
    quarantined = pl.concat([reasons, raw], how="horizontal")
    updated = 0
    if upsert and contract.primary_key and existing is not None and not accepted.is_empty():
        landed = accepted.select(_in_landed(list(contract.primary_key), existing))
        updated = int(landed.to_series().sum())
    return ValidationOutcome(accepted, quarantined, verdict.counts, frame.height,
                             [c.name for c in checks], int(copy.sum()), updated,
                             tuple(copy.arg_true().to_list()))


def copies(frame: pl.DataFrame, contract: Contract, raw_cols: list[str],
           existing: pl.DataFrame | None, landed_rows: pl.DataFrame | None,
           dedupe_key: tuple[str, ...]) -> pl.Series:
    """Rows that are copies, not new rows: a repeat of an earlier row of the batch with
    the very same values (:func:`copy_identity`); with ``dedupe_key``, a repeat of an
    event id that landed or came earlier; with a primary key, a row equal in every
    column to the landed row of its key;"""
    return _copies(frame, contract, raw_cols, existing, landed_rows, dedupe_key)[0]


def _copies(frame: pl.DataFrame, contract: Contract, raw_cols: list[str],
            existing: pl.DataFrame | None, landed_rows: pl.DataFrame | None,
            dedupe_key: tuple[str, ...]) -> tuple[pl.Series, bool]:
    """:func:`copies`, and whether the batch's identity (primary key) never repeats in
    it (then the duplicate check need not look for repeats again)."""
    exprs = [pl.lit(False)]
    if dedupe_key:
        key = list(dedupe_key)
        present = pl.all_horizontal([pl.col(k).is_not_null() for k in key])
        exprs.append(present & later_repeat(key))
        if existing is not None and all(k in existing.columns for k in key):
            exprs.append(present & _in_landed(key, existing))
    if landed_rows is not None and not landed_rows.is_empty():
        names = [c for c in contract.column_names if c in landed_rows.columns]
        fingerprints = landed_rows.select(_fingerprint(names)).to_series()
        exprs.append(_fingerprint(names).is_in(fingerprints.implode()))
    found = (frame.select(pl.any_horizontal(exprs).alias("copy")).to_series() if len(exprs) > 1
             else pl.Series("copy", [False] * frame.height, pl.Boolean))
    identity = list(dedupe_key or contract.primary_key)
    unique = False
    if raw_cols and identity:  # rows with an identity only: others may repeat for real
        repeated, unique = _repeated_rows(frame, identity, copy_identity(frame, contract))
        found = found | repeated
    return found, unique and not dedupe_key


def _repeated_rows(frame: pl.DataFrame, identity: list[str],
                   values: list[pl.Expr]) -> tuple[pl.Series, bool]:
    """Rows repeating an earlier row exactly (its ``values``: :func:`copy_identity`),
    and whether no identity repeats at all. Only rows whose identity repeats can be such
    copies, so the (costly) comparison of every value runs on those few rows, not on the
    batch."""
    key = pl.col(identity[0]) if len(identity) == 1 else pl.struct(identity)
    repeats = repeated_rows(frame.select(key).to_series(), nulls_equal=True)
    if not repeats.any():
        return repeats.alias("copy"), True  # all False
    out = pl.Series("copy", [False] * frame.height, pl.Boolean)
    index = repeats.arg_true()
    again = frame[index].select(~pl.struct(values).is_first_distinct()).to_series()
    return out.scatter(index, again), False


def _fingerprint(names: list[str]) -> pl.Expr:
    return pl.struct(names).hash(seed=7)


def _in_landed(key: list[str], existing: pl.DataFrame) -> pl.Expr:
    if len(key) == 1:
        return pl.col(key[0]).is_in(existing[key[0]].implode())
    return pl.struct(key).is_in(existing.select(pl.struct(key)).to_series().implode())


@dataclass(frozen=True, slots=True)
class Verdict:
    """The door's decision before any row moves: the failure mask, per-row reasons of
    the failing rows (``row``, ``reasons``) and failures per check."""

    mask: pl.Series
    reasons: pl.DataFrame
    counts: dict[str, int]


def evaluate(frame: pl.DataFrame, checks: list[Check]) -> Verdict:
    """Evaluate every check in one pass: row mask, per-row reasons, per-check counts."""
    if not checks:
        return Verdict(pl.repeat(False, frame.height, eager=True),
                       pl.DataFrame(schema={ROW: pl.Int64, REASONS: pl.List(pl.String)}), {})
    flag_names = [f"__chk{i}" for i in range(len(checks))]
    flags = frame.select(
        [c.failed.fill_null(False).alias(f) for c, f in zip(checks, flag_names, strict=True)])
    mask = flags.select(pl.any_horizontal(pl.all())).to_series()
    totals = flags.select(pl.all().sum()).row(0)
    details = [c.detail.alias(f"{f}_detail") for c, f in zip(checks, flag_names, strict=True)
               if c.detail is not None]
    if details:
        flags = flags.hstack(frame.select(details))
    counts = {c.name: int(n) for c, n in zip(checks, totals, strict=True)}
    reasons = flags.with_row_index(ROW).filter(mask).select(
        pl.col(ROW).cast(pl.Int64),
        pl.concat_list([pl.when(pl.col(f)).then(
                            pl.lit(c.name) if c.detail is None
                            else pl.lit(c.name + "#") + pl.col(f"{f}_detail"))
                        for c, f in zip(checks, flag_names, strict=True)])
        .list.drop_nulls().alias(REASONS))
    return Verdict(mask, reasons, counts)


def raw_json(raw_cols: list[str], columns: list[str] | None = None) -> pl.Expr:
    """The source values of a row as JSON text, keyed by the source column names
    (``columns``: the frame's names of those columns, when not ``raw_cols``)."""
    if not raw_cols:
        return pl.lit("{}")
    return pl.struct([pl.col(n).alias(c[len(RAW):])
                      for c, n in zip(raw_cols, columns or raw_cols, strict=True)]
                     ).struct.json_encode()


def copy_identity(frame: pl.DataFrame, contract: Contract) -> list[pl.Expr]:
    """What makes a row a copy of another: the same value in every contract column (as
    it lands: the comparison with a landed row's), and, for a row with a value that did
    not parse, the same source text too (what else would tell two such rows apart).

    Why typed values and not the source text: a CSV typed at read holds no text of its
    typed columns, and one batch must judge copies alike whichever way each chunk was
    read (``1.50`` and ``1.5`` of a float column are the same value either way)."""
    names = [c for c in contract.column_names if c in frame.columns]
    raw_cols = [c for c in frame.columns if c.startswith(RAW)]
    flags = [PARSE_FAIL + n for n in names if PARSE_FAIL + n in frame.columns]
    exprs = [pl.col(n) for n in names]
    if flags and raw_cols:
        failed = pl.any_horizontal([pl.col(f) for f in flags])
        exprs.append(pl.when(failed).then(pl.struct(
            [_as_text(pl.col(c), frame.schema[c]) for c in raw_cols])).alias("__unparsed__"))
    return exprs


def _column_checks(spec: ColumnSpec, existing: pl.DataFrame | None) -> list[Check]:
    col = pl.col(spec.name)
    parse_failed = pl.col(PARSE_FAIL + spec.name)
    kind = CheckKind.PARSE if spec.type in ("date", "datetime") else CheckKind.TYPE
    checks = [Check(check_name(kind, spec.name), parse_failed)]
    if not spec.nullable:
        checks.append(Check(check_name(CheckKind.NULL, spec.name), col.is_null() & ~parse_failed))
    if spec.min is not None or spec.max is not None:
        low, high = spec.bound("min"), spec.bound("max")
        checks.append(Check(check_name(CheckKind.RANGE, spec.name),
                            (col < pl.lit(low) if low is not None else pl.lit(False))
                            | (col > pl.lit(high) if high is not None else pl.lit(False))))
    if spec.allowed is not None:
        checks.append(Check(check_name(CheckKind.ALLOWED, spec.name),
                            ~col.is_in(allowed_values(spec).implode())))
    if spec.regex is not None:
        checks.append(Check(check_name(CheckKind.REGEX, spec.name), ~col.str.contains(spec.regex)))
    if spec.max_length is not None:
        checks.append(Check(check_name(CheckKind.LENGTH, spec.name),
                            col.str.len_chars() > spec.max_length))
    if spec.unique:
        seen = (col.is_in(existing[spec.name].implode())
                if existing is not None and _has(existing, spec.name) else pl.lit(False))
        checks.append(Check(check_name(CheckKind.UNIQUE, spec.name),
                            col.is_not_null() & (repeated([spec.name]) | seen)))
    return checks


def allowed_values(spec: ColumnSpec) -> pl.Series:
    """The ``allowed`` list typed like the column (YAML may spell ``[0, 1]`` as text)."""
    values = pl.Series(spec.name, list(spec.allowed or ()), pl.String)
    if spec.type in ("string", "category"):
        return values
    from lockgate.data.normalize import cast_expr

    typed = values.to_frame().select(cast_expr(pl.col(spec.name), pl.String(), spec))
    return typed.to_series().cast(spec.polars_dtype).drop_nulls()


def _duplicate_check(contract: Contract, existing: pl.DataFrame | None,
                     keys_unique: bool = False) -> Check:
    keys = contract.primary_key
    name = check_name(CheckKind.DUPLICATE, "+".join(keys))
    if all(_has(existing, k) for k in keys) and existing is not None and existing.height:
        landed = existing.select(list(keys))
        seen = (pl.col(keys[0]).is_in(landed[keys[0]].implode()) if len(keys) == 1
                else pl.struct(list(keys)).is_in(landed.select(pl.struct(list(keys)))
                                                 .to_series().implode()))
    else:
        seen = pl.lit(False)
    in_batch = pl.lit(False) if keys_unique else repeated(list(keys)) \
        if contract.on_duplicate == "quarantine" else later_repeat(list(keys))
    present = pl.all_horizontal([pl.col(k).is_not_null() for k in keys])
    return Check(name, present & (in_batch | seen))


def conflict_features(contract: Contract) -> list[str] | None:
    """The columns whose equal values make rows one group for the conflicting-label
    check (None when the contract has no target or no features)."""
    target = contract.target
    features = [c for c in contract.feature_columns if c != target]
    return features if target is not None and features else None


def group_hash(features: list[str]) -> pl.Expr:
    """A feature group's id (a 64-bit hash of the features' typed values)."""
    return pl.struct(features).hash(seed=0)


def group_label(contract: Contract) -> pl.Expr:
    """The target as text (so a landed label compares with a new one whatever the type)."""
    return pl.col(contract.target or "").cast(pl.String)


def group_id(group: pl.Expr) -> pl.Expr:
    """The group id shown in a reason (``conflict:y#<id>``)."""
    return group.cast(pl.String).str.slice(0, 10)


def _conflict_check(contract: Contract, hidden: frozenset[str] = frozenset()) -> Check | None:
    """Conflicting labels: rows with the same features and a different target.

    Every member of a conflicting group fails (no member is more right than another),
    and the reason carries the group's id, so the rows can be found together. Rows whose
    features or target did not parse take no part (a parse failure is its own reason).
    A row whose group landed earlier with another label fails too, its reason naming the
    version that landed the other row (``conflict:y#<id>@v3``); the landed row stays.
    """
    features = conflict_features(contract)
    target = contract.target
    if features is None or target is None:
        return None
    parsed = ~pl.any_horizontal([pl.col(PARSE_FAIL + c) for c in (*features, target)])
    label: pl.Expr = pl.when(parsed).then(pl.col(target))
    if contract.column(target).type in ("bool", "string", "category"):
        label = label.cast(pl.String)
    conflicting = parsed & (label.max().over(features) != label.min().over(features))
    group = group_id(group_hash(features))
    if LANDED_CONFLICT in hidden:
        landed = parsed & pl.col(LANDED_CONFLICT).fill_null(False)
        conflicting = conflicting | landed
        version = pl.col(LANDED_CONFLICT_VERSION)
        where = pl.when(version >= 0).then(pl.lit("@v") + version.cast(pl.String)) \
            .otherwise(pl.lit("@landed"))
        group = pl.when(landed).then(group + where).otherwise(group)
    return Check(check_name(CheckKind.CONFLICT, target), conflicting, detail=group)


def _has(existing: pl.DataFrame | None, name: str) -> bool:
    return existing is not None and name in existing.columns
