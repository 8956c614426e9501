"""What a retraining trains on: the champion's training data plus the labels that came
back since, each read through the training gate, in the training contract's columns.

A labeled prediction is a training row because the prediction log carries the
contract's key, entity and event-time columns beside the features
(:func:`lockgate.serving.prediction_log.context_columns`), so the retrain splits the
combined rows by entity or time exactly as the champion's training did. The newest
``replay_share`` of the labeled rows (by prediction time) is held back from training,
widened to every labeled row of the same customer (the contract's entity, else its
primary key): the replay scores champion and challenger on it, so the replay is on live
traffic and customers the challenger never saw. The held-back request ids are recorded
with the training data, so the registry's holdout lookup by key leaves them out too.
``window`` keeps only the rows whose event time is within that
duration of the newest (a policy for a world that changed: old rows may teach the old
regime).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from lockgate.config import Settings
from lockgate.data import Contract
from lockgate.data.training_gate import read_for_training
from lockgate.errors import LockgateError
from lockgate.monitoring.duration import parse_duration
from lockgate.monitoring.labeled_table import labeled_table_name
from lockgate.store import Store

DEFAULT_REPLAY_SHARE = 0.3


class RetrainingDataError(LockgateError, ValueError):
    """The rows a retraining needs cannot be assembled (named, with the fix)."""


@dataclass(frozen=True, slots=True)
class RetrainingData:
    """The combined training rows and where each part came from."""

    frame: pl.DataFrame
    training: dict[str, Any]
    labeled: dict[str, Any] | None
    skipped: dict[str, int] = field(default_factory=dict)

    def dataset(self) -> dict[str, Any]:
        """The run's ``dataset`` record: the training version (what the data gate checks
        first) and the labeled version with its replay hold-back (lineage, and what the
        replay reads back)."""
        return {**self.training, "labeled": self.labeled}


def retraining_data(contract: dict[str, Any] | Contract, table: str, version: int | None,
                    model_name: str, *, settings: Settings,
                    replay_share: float = DEFAULT_REPLAY_SHARE,
                    window: str | float | None = None) -> RetrainingData:
    """The champion's training version of ``table`` plus the labeled rows of
    ``_labeled_<model_name>`` (minus the newest ``replay_share``), both through the
    training gate.

    Raises:
        UnvalidatedDataError: a version did not pass validation (from the gate).
        RetrainingDataError: ``replay_share`` outside [0, 1), or a bad ``window``.
    """
    if not 0 <= replay_share < 1:
        raise RetrainingDataError(f"replay_share={replay_share}: use a share in [0, 1) of "
                                  "the labeled rows to hold back for the replay.")
    spec = contract if isinstance(contract, Contract) else Contract.from_dict(contract)
    store = Store.open(settings)
    found = store.dataset_version(table, version)
    base = read_for_training(table, found.version, settings=settings)
    training = {"table": table, "version": found.version, "dataset_version_id": found.id,
                "rows": base.height}
    labeled, info, skipped = _labeled_rows(spec, model_name, settings, replay_share)
    frame = base if labeled is None else pl.concat(
        [base, _in_columns(labeled, base)], how="vertical_relaxed")
    if window is not None:
        frame, skipped["outside_window"] = _within(frame, spec, window)
    return RetrainingData(frame, training, info, skipped)


def replay_rows(settings: Settings, model_name: str, labeled: dict[str, Any] | None
                ) -> pl.DataFrame | None:
    """The labeled rows a retraining held back (``labeled`` from its dataset record: the
    request ids it names); None when it recorded no labeled version."""
    if not labeled or labeled.get("version") is None:
        return None
    from lockgate.data import read

    rows = read(labeled_table_name(model_name), int(labeled["version"]), settings=settings)
    if "replay_request_ids" in labeled:
        return rows.filter(pl.col("request_id").is_in(list(labeled["replay_request_ids"])))
    _train, held = _hold_back(rows, float(labeled.get("replay_share", 0.0)), [])
    return held  # a record from before the ids were kept: the time rule alone


def _labeled_rows(spec: Contract, model_name: str, settings: Settings, share: float
                  ) -> tuple[pl.DataFrame | None, dict[str, Any] | None, dict[str, int]]:
    table = labeled_table_name(model_name)
    try:
        found = Store.open(settings).dataset_version(table, None)
    except LookupError:
        return None, None, {}
    rows = read_for_training(table, found.version, settings=settings)
    train, held = _hold_back(rows, share, _customer(spec, rows))
    needed = [c for c in (*spec.primary_key, spec.entity, spec.event_time) if c]
    missing = [c for c in needed if c not in train.columns]
    if missing:
        raise RetrainingDataError(
            f"{table}@v{found.version} has no column(s) {', '.join(missing)}, which "
            f"training on `{spec.table}` needs to split by entity and time. Labeled rows "
            "landed before predictions were logged with them; re-land them with "
            "`update_labeled` after serving a version that logs them.")
    complete = train.drop_nulls(needed)
    info = {"table": table, "version": found.version, "dataset_version_id": found.id,
            "rows": complete.height, "replay_share": share, "replay_rows": held.height,
            "replay_request_ids": held["request_id"].to_list()}
    return complete, info, {"labeled_without_keys": train.height - complete.height}


def _customer(spec: Contract, rows: pl.DataFrame) -> list[str]:
    """The columns naming a customer: the contract's entity, else its primary key."""
    columns = [spec.entity] if spec.entity else list(spec.primary_key)
    return columns if columns and all(c in rows.columns for c in columns) else []


def _hold_back(rows: pl.DataFrame, share: float, customer: list[str]
               ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split labeled rows into (train, replay): the newest ``share`` by prediction time
    (ties broken by request id, so the same version always splits the same way), plus
    every other row of a customer among them, so no customer is on both sides."""
    ordered = rows.sort(["predicted_at", "request_id"])
    newest = ordered.tail(math.ceil(share * ordered.height) if share else 0)
    held = pl.col("request_id").is_in(newest["request_id"].implode())
    if customer and newest.height:
        who = pl.concat_str([pl.col(c).cast(pl.String) for c in customer], separator="\x1f")
        seen = newest.select(who.alias("who")).drop_nulls()["who"]
        held = held | who.is_in(seen.implode()).fill_null(False)
    return ordered.filter(~held), ordered.filter(held)


def _in_columns(labeled: pl.DataFrame, base: pl.DataFrame) -> pl.DataFrame:
    """Labeled rows in the training table's columns and types (a column the log does
    not carry, such as one the model does not read, is null)."""
    return labeled.select([
        (pl.col(name) if name in labeled.columns else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in base.schema.items()])


def _within(frame: pl.DataFrame, spec: Contract, window: str | float
            ) -> tuple[pl.DataFrame, int]:
    seconds = parse_duration(window, where="retraining window")
    if not spec.event_time or spec.event_time not in frame.columns:
        raise RetrainingDataError(
            f"A retraining window ({window}) needs the contract's event_time; "
            f"`{spec.table}` declares none.")
    column = pl.col(spec.event_time)
    kept = frame.filter(column >= column.max() - pl.duration(seconds=int(seconds)))
    return kept, frame.height - kept.height
