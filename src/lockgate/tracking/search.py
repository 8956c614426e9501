"""Searching runs from Python: ``lg.search_runs(filter, order_by, experiment,
max_results)``, the dashboard's filter language parsed into bound SQL, one row per run.

    lg.search_runs("params.lr > 0.01 and metrics.auc >= 0.9", order_by="metrics.auc DESC")

Columns: ``run_id, experiment, name, status, kind, parent_id, start_time, end_time,
duration_s``, then ``metrics.<key>`` (last value; the first ``order_by`` metric first),
``params.<key>`` and ``tags.<key>``. A Polars DataFrame, or pandas with
``output="pandas"``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa

from lockgate.config import Settings, load_settings
from lockgate.errors import NotFoundError, close_matches
from lockgate.store import RunRecord, Store
from lockgate.store import schema as t
from lockgate.store.repository import run_record, run_select
from lockgate.store.run_filter import (
    FilterError,
    capped_counter,
    last_metric_value,
    numeric,
    parse_filter,
)

if TYPE_CHECKING:  # Polars is imported when a frame is built: the CLI lists runs without it.
    import polars as pl

RUN_COLUMNS = ("start_time", "end_time", "name", "status", "experiment", "kind", "id")
MAX_RESULTS = 100_000
_ORDER = re.compile(r"^\s*(?P<field>[^\s]+?)\s*(?:\s(?P<dir>asc|desc))?\s*$", re.I)

Output = Literal["polars", "pandas"]


def search_runs(filter: str = "", order_by: str | Sequence[str] | None = None,
                experiment: str | Sequence[str] | None = None, max_results: int = 1000, *,
                include_steps: bool = False, output: Output = "polars",
                settings: Settings | None = None) -> Any:
    """Runs matching ``filter``, as a DataFrame, newest first unless ``order_by`` says.

    Args:
        filter: the dashboard's language, e.g. ``params.lr > 0.01 and metrics.auc >= 0.9``.
        order_by: ``"metrics.auc DESC"``, ``"params.lr"``, ``"start_time ASC"`` or a
            list of them; runs without the key come last.
        experiment: one experiment name or several.
        max_results: at most this many rows (1 to 100,000).
        include_steps: also pipeline steps (child runs).
        output: ``"polars"`` (default) or ``"pandas"``.

    Raises:
        FilterError: the filter or an order key cannot be read (the message says where).
        NotFoundError: an experiment does not exist (with close matches).
    """
    if output not in ("polars", "pandas"):
        raise FilterError(f"output={output!r}: choose 'polars' or 'pandas'.")
    store = Store.open(settings or load_settings())
    runs = find_runs(store, filter, order_by, experiment, max_results,
                     include_steps=include_steps)
    frame = runs_frame(store, runs, primary=primary_metric(order_by))
    return frame.to_pandas() if output == "pandas" else frame


def find_runs(store: Store, filter: str = "", order_by: str | Sequence[str] | None = None,
              experiment: str | Sequence[str] | None = None, max_results: int = 1000, *,
              include_steps: bool = False) -> list[RunRecord]:
    """The records :func:`search_runs` tabulates (the CLI renders them itself)."""
    if not 1 <= max_results <= MAX_RESULTS:
        raise FilterError(f"max_results={max_results}: give 1 to {MAX_RESULTS:,}.")
    if getattr(store, "remote", False):  # behind `lockgate server`: it runs the query
        return store.search(filter, order_by, experiment, max_results,  # type: ignore[attr-defined]
                            include_steps=include_steps)
    query = run_select()
    names = [experiment] if isinstance(experiment, str) else list(experiment or [])
    if names:
        known = store.experiments()
        for name in names:
            if name not in known:
                raise NotFoundError(f"No experiment `{name}`." + close_matches(name, known))
        query = query.where(t.experiments.c.name.in_(names))
    if not include_steps:
        query = query.where(t.runs.c.parent_id.is_(None))
    with store.read() as conn:
        condition = parse_filter(filter or "", dialect=store.dialect, count=capped_counter(conn))
    if condition is not None:
        query = query.where(condition)
    orders = [order_by] if isinstance(order_by, str) else list(order_by or [])
    query = query.order_by(*(c for o in orders for c in _order_clauses(o, store.dialect)),
                           t.runs.c.start_time.desc(), t.runs.c.id.desc())
    with store.read() as conn:
        return [run_record(row) for row in conn.execute(query.limit(max_results))]


def primary_metric(order_by: str | Sequence[str] | None) -> str | None:
    """The first metric named in ``order_by`` (the column people sorted by), or None."""
    orders = [order_by] if isinstance(order_by, str) else list(order_by or [])
    for text in orders:
        field = _order_field(text)[0]
        if field.startswith("metrics."):
            return field[len("metrics."):]
    return None


def runs_frame(store: Store, runs: Sequence[RunRecord], *, primary: str | None = None,
               ) -> pl.DataFrame:
    """One row per run: run columns, last metrics, params and tags (typed per column)."""
    import polars as pl

    ids = [r.id for r in runs]
    metrics = store.last_metrics(ids)
    params = _values(store, t.params, ids, decode=True)
    tags = _values(store, t.tags, ids, decode=False)
    metric_keys = sorted({k for m in metrics.values() for k in m},
                         key=lambda k: (k != primary, k))
    columns: dict[str, list[Any]] = {
        "run_id": ids, "experiment": [r.experiment for r in runs],
        "name": [r.name for r in runs], "status": [r.status for r in runs],
        "kind": [r.kind for r in runs], "parent_id": [r.parent_id for r in runs],
        "start_time": [r.start_time for r in runs], "end_time": [r.end_time for r in runs],
        "duration_s": [r.duration for r in runs],
    }
    for key in metric_keys:
        columns[f"metrics.{key}"] = [metrics[i].get(key) for i in ids]
    for prefix, values in (("params", params), ("tags", tags)):
        for key in sorted({k for v in values.values() for k in v}):
            columns[f"{prefix}.{key}"] = _typed([values[i].get(key) for i in ids])
    frame = pl.DataFrame({k: pl.Series(k, v, strict=False) for k, v in columns.items()})
    return frame.with_columns(
        pl.from_epoch(pl.col("start_time").cast(pl.Float64) * 1e6, time_unit="us")
        .dt.replace_time_zone("UTC"),
        pl.from_epoch(pl.col("end_time").cast(pl.Float64) * 1e6, time_unit="us")
        .dt.replace_time_zone("UTC"),
    )


def _order_field(text: str) -> tuple[str, bool]:
    match = _ORDER.match(text or "")
    if match is None:
        raise FilterError(f"Cannot read order_by `{text}`; write e.g. `metrics.auc DESC`.")
    return match["field"], (match["dir"] or "asc").lower() == "desc"


def _order_clauses(text: str, dialect: str) -> list[Any]:
    field, descending = _order_field(text)

    def direction(column: Any) -> Any:
        return sa.nulls_last(column.desc() if descending else column.asc())

    scope, _, key = field.partition(".")
    if scope == "metrics" and key:
        return [direction(last_metric_value(key))]
    if scope in ("params", "tags") and key:
        table = t.params if scope == "params" else t.tags
        value = (sa.select(table.c.value)
                 .where(table.c.run_id == t.runs.c.id, table.c.key == key)
                 .correlate(t.runs).scalar_subquery())
        return [direction(numeric(value, dialect)), direction(value)]
    column = {
        "start_time": t.runs.c.start_time, "end_time": t.runs.c.end_time,
        "name": t.runs.c.name, "status": t.runs.c.status, "experiment": t.experiments.c.name,
        "kind": t.runs.c.kind, "id": t.runs.c.id, "run_id": t.runs.c.id,
    }.get(field)
    if column is None:
        raise FilterError(
            f"Cannot order by `{field}`; use metrics.<key>, params.<key>, tags.<key> or one of "
            f"{', '.join(RUN_COLUMNS)}." + close_matches(field, RUN_COLUMNS)
        )
    return [direction(column)]


def _values(store: Store, table: sa.Table, ids: Sequence[str], *,
            decode: bool) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {i: {} for i in ids}
    if not ids:
        return out
    if getattr(store, "remote", False):  # one call per run through the server's API
        read = store.params if table is t.params else store.tags
        return {i: dict(read(i)) for i in ids}
    with store.read() as conn:
        for start in range(0, len(ids), 500):
            chunk = list(ids[start:start + 500])
            rows = conn.execute(sa.select(table.c.run_id, table.c.key, table.c.value)
                                .where(table.c.run_id.in_(chunk)))
            for run_id, key, value in rows:
                out[run_id][key] = json.loads(value) if decode and value is not None else value
    return out


def _typed(values: list[Any]) -> list[Any]:
    """One type per column: numbers stay numbers, anything mixed or nested becomes text."""
    present = [v for v in values if v is not None]
    if all(isinstance(v, bool) for v in present):
        return values
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return values
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return [None if v is None else float(v) for v in values]
    return [None if v is None else (v if isinstance(v, str) else json.dumps(v))
            for v in values]


def run_params(store: Store, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Params of several runs in one query per 500 runs."""
    return _values(store, t.params, ids, decode=True)


def run_tags(store: Store, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Tags of several runs in one query per 500 runs."""
    return _values(store, t.tags, ids, decode=False)


def params_that_differ(params: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Param keys whose value is not the same on every run (missing counts as a value)."""
    keys = sorted({k for p in params.values() for k in p})
    return [k for k in keys
            if len({json.dumps(p.get(k), sort_keys=True, default=str)
                    for p in params.values()}) > 1]
