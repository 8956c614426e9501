"""Splitting from the data's structure: time-ordered, grouped or iid, with a holdout
carved once per dataset version.

A split is an immutable record of index arrays. The holdout is a pure function of each
row's key (primary key, entity or time), so every run on the same dataset version sees
the same holdout and tuning never touches it. When the contract declares no structure,
:func:`detect_structure` looks for it and an iid split of structured data is refused
with the exact contract line to add.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from scipy import stats
from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

from lockgate.modeling.errors import SplitError
from lockgate.modeling.features import ContractLike
from lockgate.modeling.timestamps import parse_time
from lockgate.user_types import FrameLike

STRATEGIES = ("time", "group", "iid")
_ID_NAME = re.compile(r"(^|_)(id|key|uuid|code)$|[a-z]Id$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Split:
    """One train/test pair of row positions into the frame."""

    name: str
    train: np.ndarray
    test: np.ndarray


@dataclass(frozen=True, slots=True)
class StructureHint:
    """Evidence that rows are not independent: an entity-like key or a time column."""

    kind: str            # "entity" | "time"
    column: str
    evidence: str
    contract_line: str


@dataclass(frozen=True, slots=True)
class SplitPlan:
    """How one dataset is split: strategy, why, the holdout and the CV folds."""

    strategy: str
    reason: str
    column: str | None
    development: np.ndarray
    holdout: np.ndarray
    folds: tuple[Split, ...]
    n_splits: int
    gap: int = 0
    seed: int = 0
    override: str | None = None
    hints: tuple[StructureHint, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (sizes, not indices)."""
        return {
            "strategy": self.strategy, "reason": self.reason, "column": self.column,
            "n_development": len(self.development), "n_holdout": len(self.holdout),
            "n_splits": self.n_splits, "gap": self.gap, "override": self.override,
            "folds": [{"name": f.name, "train": len(f.train), "test": len(f.test)}
                      for f in self.folds],
            "hints": [{"kind": h.kind, "column": h.column, "evidence": h.evidence}
                      for h in self.hints],
        }


def as_polars(frame: FrameLike) -> pl.DataFrame:
    """A Polars view of a Polars or pandas frame."""
    if isinstance(frame, pl.DataFrame):
        return frame
    if type(frame).__module__.startswith("pandas"):
        return pl.from_pandas(frame)
    raise SplitError(f"Expected a Polars or pandas DataFrame, got {type(frame).__name__}.")


def detect_structure(frame: FrameLike, contract: ContractLike,
                     target: str | None = None) -> list[StructureHint]:
    """Entity-like keys and time columns that make rows dependent.

    Entity: a string column (or an id-named integer column) whose values repeat, with
    many distinct values. Time: a date/datetime column along which the target trends
    (Spearman) or is autocorrelated (lag 1).
    """
    df = as_polars(frame)
    target = target or contract.target
    skip = set(contract.primary_key) | {target, contract.event_time, contract.entity}
    hints: list[StructureHint] = []
    n = df.height
    y = _numeric_target(df, target) if target in df.columns else None
    schema = df.schema  # once: rebuilding it per column is quadratic on wide tables
    for name, dtype in schema.items():
        if name in skip:
            continue
        hint = _column_hint(df, name, dtype, y, n)
        if hint is not None:
            hints.append(hint)
    return hints


def _column_hint(df: pl.DataFrame, name: str, dtype: pl.DataType, y: np.ndarray | None,
                 n: int) -> StructureHint | None:
    """A time hint for a column holding timestamps in any form (typed, non-ISO strings,
    epoch numbers), else an entity hint for id-like columns."""
    text = dtype in (pl.String, pl.Categorical, pl.Enum)
    maybe_time = dtype.is_temporal() or text or (dtype.is_numeric() and dtype != pl.Boolean)
    parsed = parse_time(df[name]) if (maybe_time and y is not None) else None
    if parsed is not None and y is not None:
        hint = _time_hint(df.with_columns(parsed.values.alias(name)), name, y)
        if hint is not None and parsed.how != "datetime":
            return StructureHint("time", name, f"{hint.evidence}; {parsed.described} holds "
                                 "timestamps", f"event_time: {name}  (type: datetime, "
                                 f"formats: [\"{parsed.how}\"])")
        if hint is not None:
            return hint
    if text or (dtype.is_integer() and _ID_NAME.search(name)):
        return _entity_hint(df, name, n)
    return None


def plan_split(
    frame: FrameLike,
    contract: ContractLike,
    *,
    target: str | None = None,
    classification: bool = True,
    strategy: str | None = None,
    n_splits: int = 5,
    holdout: float = 0.2,
    gap: int = 0,
    seed: int = 0,
    allow_iid: str | None = None,
) -> SplitPlan:
    """Choose the strategy from the contract (or detected structure) and split.

    Args:
        frame: the dataset version's rows.
        contract: its contract (``event_time`` → time, ``entity`` → group, else iid).
        target: target column (default the contract's).
        classification: stratify folds by the target.
        strategy: force "time", "group" or "iid"; an iid split of data with declared or
            detected structure is refused unless ``allow_iid`` is given.
        n_splits: cross-validation folds inside the development rows.
        holdout: share of rows (iid), entities (group) or time span (time) held out.
        gap: distinct time points left out between train and test (time strategy).
        seed: shuffling seed of the folds (the holdout never depends on it).
        allow_iid: the reason for overriding the refusal; recorded in the plan.

    Raises:
        SplitError: refused iid split, unknown strategy, too little data.
    """
    df = as_polars(frame)
    target = target or contract.target
    if strategy is not None and strategy not in STRATEGIES:
        raise SplitError(f"strategy={strategy!r}: choose one of {list(STRATEGIES)}.")
    if not 0 < holdout < 1:
        raise SplitError(f"holdout={holdout}: give a share between 0 and 1, e.g. 0.2.")
    if n_splits < 2:
        raise SplitError(f"n_splits={n_splits}: cross-validation needs at least 2 folds.")
    chosen, column, reason, hints, override = _choose(df, contract, target, strategy, allow_iid)
    y = df[target].to_numpy() if (classification and target in df.columns) else None
    if chosen == "time":
        development, held = _time_holdout(df, column, holdout, gap)
    else:
        development, held = _hash_holdout(df, contract, column, holdout)
    folds = make_folds(df, development, strategy=chosen, column=column, y=y,
                       n_splits=n_splits, gap=gap, seed=seed)
    return SplitPlan(chosen, reason, column, development, held, folds, n_splits, gap, seed,
                     override, tuple(hints))


def make_folds(df: pl.DataFrame, rows: np.ndarray, *, strategy: str, column: str | None,
               y: np.ndarray | None, n_splits: int, gap: int = 0,
               seed: int = 0) -> tuple[Split, ...]:
    """Cross-validation folds over ``rows`` (positions into ``df``) for a strategy.

    Used for the outer folds and, inside each outer training fold, for the inner folds
    of a nested hyperparameter search.
    """
    rows = np.asarray(rows)
    if strategy in ("time", "group"):
        if column is None:
            raise SplitError(f"A {strategy} split needs a column; none was given.")
        values = df[column].to_numpy()[rows]
    if strategy == "time":
        return _time_folds(values, rows, n_splits, gap)
    if strategy == "group":
        groups = values
        if len(np.unique(groups)) < n_splits:
            raise SplitError(
                f"Only {len(np.unique(groups))} distinct `{column}` values for {n_splits} "
                f"grouped folds; lower n_splits or add data."
            )
        if y is not None:
            splitter: Any = StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)
        else:
            splitter = GroupKFold(n_splits)
        pairs = splitter.split(rows, y[rows] if y is not None else None, groups)
    else:
        if len(rows) < n_splits * 2:
            raise SplitError(f"{len(rows)} rows are too few for {n_splits} folds.")
        if y is not None and _stratifiable(y[rows], n_splits):
            pairs = StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(rows, y[rows])
        else:
            pairs = KFold(n_splits, shuffle=True, random_state=seed).split(rows)
    return tuple(Split(f"fold{i}", rows[tr], rows[te]) for i, (tr, te) in enumerate(pairs))


def _stratifiable(y: np.ndarray, n_splits: int) -> bool:
    _, counts = np.unique(y.astype(str), return_counts=True)
    return bool(counts.min() >= n_splits)


def _choose(df: pl.DataFrame, contract: ContractLike, target: str | None,
            strategy: str | None, allow_iid: str | None) -> tuple:
    declared_time = contract.event_time if contract.event_time in df.columns else None
    declared_entity = contract.entity if contract.entity in df.columns else None
    if strategy in (None, "time") and declared_time:
        return "time", declared_time, (
            f"contract declares event_time `{declared_time}`: expanding-window folds in time "
            "order and a holdout at the end of time"), [], None
    if strategy == "time":
        raise SplitError(
            f"strategy='time' needs an event time; add `event_time: <column>` to contract "
            f"`{contract.table}`."
        )
    if strategy in (None, "group") and declared_entity:
        return "group", declared_entity, (
            f"contract declares entity `{declared_entity}`: grouped folds and a holdout of "
            "unseen entities"), [], None
    if strategy == "group":
        raise SplitError(
            f"strategy='group' needs an entity; add `entity: <column>` to contract "
            f"`{contract.table}`."
        )
    hints = detect_structure(df, contract, target)
    declared = [f"event_time: {declared_time}"] if declared_time else []
    declared += [f"entity: {declared_entity}"] if declared_entity else []
    if (hints or declared) and not allow_iid:
        raise SplitError(_refusal(contract, hints, declared))
    if hints or declared:
        return "iid", None, (
            "iid split forced by override despite structure "
            f"({'; '.join(h.evidence for h in hints) or ', '.join(declared)})"), hints, allow_iid
    return "iid", None, ("no event time or entity declared and none detected: "
                         "stratified K-fold and a random holdout"), [], None


def _refusal(contract: ContractLike, hints: list[StructureHint], declared: list[str]) -> str:
    lines = [f"Refusing an iid (random) split of table `{contract.table}`:"]
    for line in declared:
        lines.append(f"  - the contract declares `{line}`; a random split would mix "
                     "rows of the same " + ("time period" if "event_time" in line else "entity")
                     + " into train and test.")
    for hint in hints:
        lines.append(f"  - {hint.evidence}. Add to the contract: `{hint.contract_line}`")
    lines.append("Use the structure-aware split (omit `strategy`), or override with "
                 "allow_iid=\"<why the rows are independent>\" (recorded with the run).")
    return "\n".join(lines)


def _numeric_target(df: pl.DataFrame, target: str) -> np.ndarray | None:
    series = df[target].drop_nulls()
    if series.len() < 10:
        return None
    if series.dtype.is_numeric():
        return df[target].cast(pl.Float64).to_numpy()
    codes = df[target].cast(pl.String)
    top = codes.drop_nulls().mode().sort()[0]
    return (codes == top).cast(pl.Float64).to_numpy()


def _time_hint(df: pl.DataFrame, name: str, y: np.ndarray) -> StructureHint | None:
    times = df[name].cast(pl.Int64).to_numpy().astype(np.float64)
    ok = ~(np.isnan(times) | np.isnan(y))
    if ok.sum() < 30 or np.unique(times[ok]).size < 10:
        return None
    t, v = times[ok], y[ok]
    order = np.argsort(t, kind="stable")
    v = v[order]
    rho, p = stats.spearmanr(t[order], v)
    lag1 = np.corrcoef(v[:-1], v[1:])[0, 1] if v.std() > 0 else 0.0
    limit = max(0.1, 4 / np.sqrt(len(v)))
    if p < 1e-3 and abs(rho) > 0.1:
        evidence = f"the target trends along `{name}` (Spearman rho={rho:.2f}, p={p:.1e})"
    elif abs(lag1) > limit:
        evidence = (f"the target is autocorrelated in `{name}` order (lag-1 r={lag1:.2f} > "
                    f"{limit:.2f})")
    else:
        return None
    return StructureHint("time", name, evidence, f"event_time: {name}")


def _entity_hint(df: pl.DataFrame, name: str, n: int) -> StructureHint | None:
    values = df[name].drop_nulls()
    distinct = values.n_unique()
    id_like = bool(_ID_NAME.search(name))
    least = max(10, 0.01 * n) if id_like else max(10, 0.1 * n)
    if distinct < least or distinct > values.len() / 2:
        return None
    mean = values.len() / distinct
    evidence = (f"`{name}` looks like an entity key: {distinct} distinct values repeat on "
                f"{mean:.1f} rows each on average")
    return StructureHint("entity", name, evidence, f"entity: {name}")


def _unit_hash(values: list[str]) -> np.ndarray:
    """Stable uniform [0, 1) from each key, independent of process, seed and version."""
    out = np.empty(len(values), dtype=np.float64)
    for i, value in enumerate(values):
        digest = hashlib.blake2b(value.encode("utf-8"), digest_size=8,
                                 person=b"lg-holdout").digest()
        out[i] = int.from_bytes(digest, "big") / 2.0**64
    return out


def _hash_holdout(df: pl.DataFrame, contract: ContractLike, group: str | None,
                  share: float) -> tuple[np.ndarray, np.ndarray]:
    if group is not None:
        keys = df[group].cast(pl.String).fill_null("\x00null")
        distinct = keys.unique().to_list()
        in_holdout = dict(zip(distinct, _unit_hash(distinct) < share, strict=True))
        mask = np.fromiter((in_holdout[k] for k in keys.to_list()), bool, df.height)
        if mask.all() or not mask.any():  # very few entities: still hold one out
            mask = (keys == sorted(distinct)[0]).to_numpy()
    else:
        mask = _key_hash(df, contract) < share
    rows = np.arange(df.height)
    return rows[~mask], rows[mask]


def _key_hash(df: pl.DataFrame, contract: ContractLike) -> np.ndarray:
    keys = [k for k in contract.primary_key if k in df.columns]
    if len(keys) == 1 and df.schema[keys[0]].is_integer() and not df[keys[0]].null_count():
        return _splitmix(df[keys[0]].cast(pl.Int64).to_numpy())
    return _unit_hash(row_keys(df, contract).to_list())


def _splitmix(values: np.ndarray) -> np.ndarray:
    """SplitMix64 of integer keys as uniform [0, 1): stable, vectorised, seed-free."""
    z = values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53)


def row_keys(df: pl.DataFrame, contract: ContractLike) -> pl.Series:
    """Each row's identity: its primary key values joined, or its position."""
    keys = [k for k in contract.primary_key if k in df.columns]
    if not keys:
        return pl.Series("__row__", [str(i) for i in range(df.height)])
    return df.select(pl.concat_str([pl.col(k).cast(pl.String).fill_null("") for k in keys],
                                   separator="\x1f")).to_series()


def _time_holdout(df: pl.DataFrame, column: str, share: float,
                  gap: int) -> tuple[np.ndarray, np.ndarray]:
    nulls = df[column].null_count()
    if nulls:
        raise SplitError(
            f"{nulls} rows have no `{column}` (the event time); a time-ordered split cannot "
            "place them. Fill or quarantine them before training."
        )
    times = df[column].to_numpy()
    distinct = np.unique(times)
    if distinct.size < 3 + gap:
        raise SplitError(f"`{column}` has only {distinct.size} distinct times; a time split "
                         "needs more.")
    cut = max(1, round(distinct.size * (1 - share)))
    cut = min(cut, distinct.size - 1)
    start_of_holdout = distinct[cut]
    last_dev = distinct[max(cut - gap, 1) - 1]
    rows = np.arange(df.height)
    return rows[times <= last_dev], rows[times >= start_of_holdout]


def _time_folds(times: np.ndarray, rows: np.ndarray, n_splits: int,
                gap: int) -> tuple[Split, ...]:
    distinct = np.unique(times)
    if distinct.size < n_splits + 1 + gap:
        raise SplitError(
            f"{distinct.size} distinct times are too few for {n_splits} expanding-window "
            f"folds with gap {gap}; lower n_splits."
        )
    chunks = np.array_split(distinct, n_splits + 1)
    folds = []
    for k in range(1, n_splits + 1):
        test_times = chunks[k]
        train_end = np.searchsorted(distinct, test_times[0]) - gap
        if train_end <= 0:
            raise SplitError(f"gap={gap} leaves fold {k} without training data; lower gap.")
        train_mask = times <= distinct[train_end - 1]
        test_mask = (times >= test_times[0]) & (times <= test_times[-1])
        folds.append(Split(f"fold{k - 1}", rows[train_mask], rows[test_mask]))
    return tuple(folds)
