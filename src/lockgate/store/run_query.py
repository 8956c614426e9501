"""The runs table's query (the dashboard's runs page): filters, sorting and pagination
over the ``runs`` table, beside the filter language it compiles (``run_filter``).

Pagination is an indexed offset: the default order ``start_time DESC, id DESC`` walks
the ``ix_ui_runs_start_id`` index (see ``store/tables_ui.py``), so any page costs a
short index scan, not a sort of the table. Metric filters and sorts read the store's
``latest_metrics`` table (one row per run and key, kept current by every metric write),
so a GET never writes and never reads the metric history.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from lockgate.errors import NotFoundError, close_matches
from lockgate.store import RunRecord, Store
from lockgate.store import schema as t
from lockgate.store.repository import live_run, run_record, run_select
from lockgate.store.run_filter import (
    DENSE_MATCHES,
    FilterError,
    MetricBound,
    capped_counter,
    metric_bounds,
    numeric,
    parse_filter,
    status_clause,
)
from lockgate.store.run_page import read_segments
from lockgate.store.tables_ui import ix_ui_runs_start_id  # noqa: F401  (the page's index)

MAX_PER_PAGE = 200
#: Runs counted beyond the current page: the count is exact below it and "N+" above, so
#: a page never costs a count of the whole store (O(runs), ~0.3 s at 100k on SQLite).
COUNT_AHEAD = 1_000
SORT_COLUMNS = ("start_time", "name", "status", "experiment", "duration")
MAX_METRIC_COLUMNS = 8
MAX_PARAM_COLUMNS = 6


@dataclass(frozen=True, slots=True)
class RunQuery:
    """What the runs page asks for; built from the query string."""

    experiment: str | None = None
    status: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    q: str = ""
    sort: str = "start_time"
    descending: bool = True
    page: int = 1
    per_page: int = 50
    include_steps: bool = False
    view: str = ""  # the saved view the page was opened with (kept in its links)


@dataclass(frozen=True, slots=True)
class RunPage:
    """One page of runs with the columns to show."""

    runs: list[RunRecord]
    total: int
    page: int
    pages: int
    per_page: int
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    metric_keys: list[str] = field(default_factory=list)
    param_keys: list[str] = field(default_factory=list)
    total_capped: bool = False  # more than ``total`` runs match (see COUNT_AHEAD)


def query_runs(store: Store, query: RunQuery) -> RunPage:
    """Fetch one page of runs matching ``query``, with their last metrics and params.

    Raises:
        FilterError: the filter expression, status, sort key or page is invalid.
        NotFoundError: the experiment does not exist (with close matches).
    """
    if query.per_page < 1 or query.per_page > MAX_PER_PAGE:
        raise FilterError(f"per_page must be between 1 and {MAX_PER_PAGE}, got {query.per_page}.")
    if query.page < 1:
        raise FilterError(f"page must be 1 or more, got {query.page}.")
    conditions = _conditions(store, query)
    offset = (query.page - 1) * query.per_page
    cap = offset + COUNT_AHEAD
    matching = (
        sa.select(t.runs.c.id)
        .join(t.experiments, t.experiments.c.id == t.runs.c.experiment_id)
        .where(*conditions).limit(cap + 1).subquery()
    )
    count = sa.select(sa.func.count()).select_from(matching)
    with store.read() as conn:
        total = int(conn.execute(count).scalar_one())
        segments = _segments(query.sort, query.descending, store.dialect, conditions,
                             metric_bounds(query.q))
        runs = [run_record(row) for row in read_segments(conn, segments, offset, query.per_page)]
    capped = total > cap
    total = min(total, cap)
    ids = [r.id for r in runs]
    metrics = store.last_metrics(ids)
    params = _params(store, ids)
    return RunPage(
        runs=runs, total=total, page=query.page, pages=max(1, math.ceil(total / query.per_page)),
        per_page=query.per_page, metrics=metrics, params=params,
        metric_keys=_columns(metrics, query.sort, "metrics.", MAX_METRIC_COLUMNS),
        param_keys=_columns(params, query.sort, "params.", MAX_PARAM_COLUMNS),
        total_capped=capped,
    )


def _conditions(store: Store, query: RunQuery) -> list[sa.ColumnElement[bool]]:
    # soft-deleted runs (`lockgate runs delete`) are hidden, as in every listing
    conditions: list[sa.ColumnElement[bool]] = [live_run()]
    if not query.include_steps:
        conditions.append(_top_level(store, query.q))
    if query.experiment:
        known = store.experiments()
        if query.experiment not in known:
            raise NotFoundError(
                f"No experiment `{query.experiment}`." + close_matches(query.experiment, known)
            )
        conditions.append(t.experiments.c.name == query.experiment)
    if query.status:
        conditions.append(status_clause(query.status.upper()))
    for key, value in query.tags:
        conditions.append(
            sa.exists().where(
                t.tags.c.run_id == t.runs.c.id, t.tags.c.key == key, t.tags.c.value == value
            )
        )
    with store.read() as conn:
        expression = parse_filter(query.q, dialect=store.dialect, count=capped_counter(conn))
    if expression is not None:
        conditions.append(expression)
    return conditions


def _top_level(store: Store, expression: str) -> sa.ColumnElement[bool]:
    """``runs.parent_id IS NULL``; on SQLite written ``+runs.parent_id IS NULL`` when the
    filter requires a metric comparison few runs meet.

    Why: SQLite keeps no statistics and took ``parent_id IS NULL`` as a selective index
    equality, so ``metrics.auc >= 0.9999`` (89 of 1M runs) walked ``ix_runs_parent``
    over every run and probed the 89-run list (1.3-1.6 s, count and page). With the
    index term disabled the list drives: a primary-key lookup per matching run (42 ms
    and 74 ms cold). The capped count tells few from many, as in ``parse_filter``; a
    dense comparison keeps the index walk (its page ends early).
    """
    if store.dialect != "sqlite" or not _few_required(store, expression):
        return t.runs.c.parent_id.is_(None)
    return sa.literal_column("+runs.parent_id").is_(None)


def _few_required(store: Store, expression: str) -> bool:
    """Whether a metric comparison the filter requires of every run matches fewer than
    ``DENSE_MATCHES`` runs (one capped index range per comparison)."""
    last = t.latest_metrics
    with store.read() as conn:
        count = capped_counter(conn)
        return any(count(sa.select(last.c.run_id).where(last.c.key == bound.key,
                                                        bound.on(last.c.value))
                         .limit(DENSE_MATCHES)) < DENSE_MATCHES
                   for bound in metric_bounds(expression))


def _segments(sort: str, descending: bool, dialect: str,
              conditions: list[sa.ColumnElement[bool]],
              bounds: Sequence[MetricBound] = ()) -> list[sa.Select]:
    """The page's order as consecutive queries, each one an index walk.

    A metric sort is three segments: runs with a value, in value order (the
    ``(key, value)`` index of ``latest_metrics``, walked either way); then runs whose
    last value is NaN; then runs without the metric, both newest first. One query with
    an outer join and ``NULLS LAST`` would have to sort every run instead. When the
    filter bounds the sorted metric (``metrics.auc >= 0.9``), the bound is put on the
    walked index too, and the NaN and missing segments, which cannot match, are dropped.
    """
    base = run_select().where(*conditions)
    newest = [t.runs.c.start_time.desc(), t.runs.c.id.desc()]
    if sort.startswith("metrics.") and len(sort) > len("metrics."):
        key = sort[len("metrics."):]
        last = t.latest_metrics.alias("sort_metric")
        keyed = base.join(last, sa.and_(last.c.run_id == t.runs.c.id, last.c.key == key))
        value = last.c.value
        has_key = sa.exists().where(t.latest_metrics.c.run_id == t.runs.c.id,
                                    t.latest_metrics.c.key == key)
        implied = [bound.on(value) for bound in bounds if bound.key == key]
        if implied:
            return [keyed.where(*implied)
                    .order_by(value.desc() if descending else value.asc(), *newest)]
        return [
            keyed.where(value.is_not(None))
            .order_by(value.desc() if descending else value.asc(), *newest),
            keyed.where(value.is_(None)).order_by(*newest),
            base.where(~has_key).order_by(*newest),
        ]
    return [_sorted(base, sort, descending, dialect)]


def _sorted(select: sa.Select, sort: str, descending: bool, dialect: str) -> sa.Select:
    """Order by a run column or a param (an outer join on its key, runs without it
    last)."""
    secondary = [t.runs.c.start_time.desc(), _direction(t.runs.c.id, descending)]
    if sort.startswith("params.") and len(sort) > len("params."):
        param = t.params.alias("sort_param")
        joined = select.outerjoin(param, sa.and_(param.c.run_id == t.runs.c.id,
                                                 param.c.key == sort[len("params."):]))
        # Numbers sort as numbers, everything else by its JSON text after them.
        return joined.order_by(_direction(numeric(param.c.value, dialect), descending, True),
                               _direction(param.c.value, descending, True), *secondary)
    if sort not in SORT_COLUMNS:
        raise FilterError(
            f"Cannot sort by `{sort}`; use one of {', '.join(SORT_COLUMNS)}, metrics.<key> or "
            "params.<key>." + close_matches(sort, SORT_COLUMNS)
        )
    column = {
        "start_time": t.runs.c.start_time, "name": t.runs.c.name,
        "status": t.runs.c.status, "experiment": t.experiments.c.name,
        "duration": sa.func.coalesce(t.runs.c.end_time, t.runs.c.heartbeat_at)
        - t.runs.c.start_time,
    }[sort]
    if sort == "start_time":
        return select.order_by(_direction(column, descending),
                               _direction(t.runs.c.id, descending))
    return select.order_by(_direction(column, descending), *secondary)


def _direction(column: Any, descending: bool, nullable: bool = False) -> Any:
    """``column`` in the order asked; ``NULLS LAST`` only where it can be NULL (a param
    missing from a run): on a NOT NULL column it changes nothing but stops PostgreSQL
    walking the ``(parent_id, start_time, id)`` index backwards (0.7-1 s a page at 1M
    runs instead of a few ms)."""
    ordered = column.desc() if descending else column.asc()
    return sa.nulls_last(ordered) if nullable else ordered


def _params(store: Store, ids: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {run_id: {} for run_id in ids}
    if not ids:
        return out
    with store.read() as conn:
        rows = conn.execute(
            sa.select(t.params.c.run_id, t.params.c.key, t.params.c.value)
            .where(t.params.c.run_id.in_(ids))
        )
        for run_id, key, value in rows:
            out[run_id][key] = json.loads(value)
    return out


def _columns(values: Mapping[str, Mapping[str, Any]], sort: str, prefix: str,
             limit: int) -> list[str]:
    """Keys to show as columns: the most common on the page, the sorted one always."""
    counts: dict[str, int] = {}
    for per_run in values.values():
        for key in per_run:
            counts[key] = counts.get(key, 0) + 1
    keys = sorted(counts, key=lambda k: (-counts[k], k))[:limit]
    if sort.startswith(prefix) and sort[len(prefix):] not in keys:
        keys.append(sort[len(prefix):])
    return sorted(keys)
