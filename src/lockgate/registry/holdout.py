"""The holdout rows a package carries, recovered from the versioned table the model was
trained on (and, for a retraining, the labeled feedback version it trained on beside
it), so the champion/challenger gate can score both versions on the same rows."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import polars as pl

from lockgate.config import Settings
from lockgate.data.contract import Contract
from lockgate.errors import LockgateError

log = logging.getLogger("lockgate.registry")


def holdout_from_data(evaluation: Mapping[str, Any], contract: Contract,
                      settings: Settings) -> pl.DataFrame | None:
    """Rows of ``evaluation["holdout"]["ids"]`` read from the recorded dataset version.

    Returns None (and logs why) when the table, version or ids are not recorded or the
    table cannot be read; the champion/challenger gate then refuses with that reason.
    """
    dataset = dict(evaluation.get("dataset") or {})
    holdout = dict(evaluation.get("holdout") or {})
    key, ids = holdout.get("key"), holdout.get("ids")
    if not dataset.get("table") or not ids or not key:
        log.warning("no holdout rows: the evaluation records no dataset table or holdout ids")
        return None
    try:
        from lockgate.data import read

        frame = read(dataset["table"], dataset.get("version"), settings=settings)
    except (LockgateError, ImportError) as exc:
        log.warning("no holdout rows: cannot read %s: %s", dataset.get("table"), exc)
        return None
    wanted = [c for c in contract.column_names if c in frame.columns]
    labeled = _labeled_rows(dataset.get("labeled"), frame.select(wanted), key, settings)
    if labeled is not None:  # a retraining's labeled rows are part of its data
        frame = pl.concat([frame.select(wanted), labeled], how="vertical_relaxed")
    if key == "__row__":
        positions = [int(i) for i in ids if 0 <= int(i) < frame.height]
        return frame.select(wanted)[positions]
    if key in frame.columns:
        return frame.filter(pl.col(key).is_in(list(ids))).select(wanted)
    keys = [k for k in contract.primary_key if k in frame.columns]
    if keys:
        joined = pl.concat_str([pl.col(k).cast(pl.String).fill_null("") for k in keys],
                               separator="\x1f")
        return frame.filter(joined.is_in([str(i) for i in ids])).select(wanted)
    return None


def _labeled_rows(labeled: Any, base: pl.DataFrame, key: str, settings: Settings
                  ) -> pl.DataFrame | None:
    """The labeled version's rows the model trained on, in the training table's columns
    (None when it trained on none, or the holdout is keyed by row position, which only
    the table itself defines). The rows held back for the replay (named by request id in
    the record) are left out: a key they share with a holdout row must not bring them
    into the holdout."""
    if not isinstance(labeled, Mapping) or labeled.get("version") is None or key == "__row__":
        return None
    try:
        from lockgate.data import read

        rows = read(str(labeled["table"]), int(labeled["version"]), settings=settings)
    except (LockgateError, ImportError) as exc:
        log.warning("holdout: cannot read labeled rows %s: %s", labeled.get("table"), exc)
        return None
    replayed = labeled.get("replay_request_ids")
    if replayed and "request_id" in rows.columns:
        rows = rows.filter(~pl.col("request_id").is_in(list(replayed)))
    return rows.select([(pl.col(n) if n in rows.columns else pl.lit(None)).cast(t).alias(n)
                        for n, t in base.schema.items()])
