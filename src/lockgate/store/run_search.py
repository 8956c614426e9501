"""Searching runs in the store: the filter language (:mod:`~lockgate.store.run_filter`)
and ``order_by`` keys compiled into one bound query over the ``runs`` table, and the
params and tags of many runs in batched reads. :func:`lockgate.tracking.search_runs`
tabulates what :func:`find_runs` returns; the CLI and the team server call it directly."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from lockgate.errors import NotFoundError, close_matches
from lockgate.store import schema as t
from lockgate.store.records import RunRecord
from lockgate.store.repository import Store, run_record, run_select
from lockgate.store.run_filter import (
    FilterError,
    capped_counter,
    last_metric_value,
    metric_bounds,
    numeric,
    parse_filter,
)
from lockgate.store.run_page import read_segments

RUN_COLUMNS = ("start_time", "end_time", "name", "status", "experiment", "kind", "id")
MAX_RESULTS = 100_000
_ORDER = re.compile(r"^\s*(?P<field>[^\s]+?)\s*(?:\s(?P<dir>asc|desc))?\s*$", re.I)


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
    orders = [order_by] if isinstance(order_by, str) else list(order_by or [])
    clauses = [c for o in orders for c in _order_clauses(o, store.dialect)]
    newest = [t.runs.c.start_time.desc(), t.runs.c.id.desc()]
    first, descending = _order_field(orders[0]) if orders else ("", False)
    key = first[len("metrics."):] if first.startswith("metrics.") else ""
    with store.read() as conn:
        if not key:
            condition = parse_filter(filter or "", dialect=store.dialect,
                                     count=capped_counter(conn))
            if condition is not None:
                query = query.where(condition)
            rows = conn.execute(query.order_by(*clauses, *newest).limit(max_results)).all()
        else:
            segments = _metric_first(conn, store.dialect, query, key, descending,
                                     filter or "", [*clauses[1:], *newest])
            rows = read_segments(conn, segments, 0, max_results)
    return [run_record(row) for row in rows]


def _metric_first(conn: Any, dialect: str, query: sa.Select, key: str, descending: bool,
                  filter: str, then: list[Any]) -> list[sa.Select]:
    """An order led by a metric as two walks: the runs with a value, in value order (a
    range of ``latest_metrics (key, value, run_id)``, joined to their runs), then the
    runs without one (none logged, or NaN), in the order's other keys.

    Why: the same order as one ``ORDER BY (last value) NULLS LAST`` looks the value up
    for every run and sorts them all (0.14 s at 100k runs on SQLite, 0.34 s on
    PostgreSQL, growing with the store), where the walk stops after ``max_results``
    rows. A filter bound on the metric (``metrics.auc >= 0.9``) bounds the walk and
    reads the walked row, and the runs without a value, which cannot match, are not
    read at all.
    """
    last = t.latest_metrics.alias("order_metric")
    value = last.c.value
    bounded = any(bound.key == key for bound in metric_bounds(filter))
    condition = parse_filter(filter, dialect=dialect, count=capped_counter(conn),
                             joined={key: value} if bounded else None)
    if condition is not None:
        query = query.where(condition)
    walked = (query.join(last, sa.and_(last.c.run_id == t.runs.c.id, last.c.key == key))
              .where(value.is_not(None))
              .order_by(value.desc() if descending else value.asc(), *then))
    if bounded:
        return [walked]
    valued = sa.exists().where(t.latest_metrics.c.run_id == t.runs.c.id,
                               t.latest_metrics.c.key == key,
                               t.latest_metrics.c.value.is_not(None))
    return [walked, query.where(~valued).order_by(*then)]


def primary_metric(order_by: str | Sequence[str] | None) -> str | None:
    """The first metric named in ``order_by`` (the column people sorted by), or None."""
    orders = [order_by] if isinstance(order_by, str) else list(order_by or [])
    for text in orders:
        field = _order_field(text)[0]
        if field.startswith("metrics."):
            return field[len("metrics."):]
    return None


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


def run_params(store: Store, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Params of several runs in one query per 500 runs."""
    return _values(store, t.params, ids, decode=True)


def run_tags(store: Store, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Tags of several runs in one query per 500 runs."""
    return _values(store, t.tags, ids, decode=False)
