"""The runs table's query (the dashboard's runs page): filters, sorting and pagination
over the ``runs`` table, beside the filter language it compiles (``run_filter``).

Pagination follows cursors (``run_cursor``): the pager's links say where the next or
previous page starts, and the default order ``start_time DESC, id DESC`` walks the
``ix_runs_parent_start`` / ``ix_ui_runs_start_id`` index from there (see
``store/tables_ui.py``), so page N costs what page 1 does, not a sort of the table nor
a walk past the N - 1 pages before it. Metric filters and sorts read the store's
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
from lockgate.store import RunRecord, Store, run_cursor
from lockgate.store import schema as t
from lockgate.store.repository import live_run, records_in_order, run_select
from lockgate.store.run_cursor import Key, Segment
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
from lockgate.store.tables_ui import ix_ui_runs_start_id  # noqa: F401  (the page's index)

MAX_PER_PAGE = 200
#: Runs counted from the start of the page, in the page's own walk (5 pages of 50): the
#: count is exact below it and "N+" above, so a page never costs a count of the whole
#: store (O(runs), ~0.3 s at 100k on SQLite), and the count costs a few pages' reads.
COUNT_AHEAD = 250
SORT_COLUMNS = ("start_time", "name", "status", "experiment", "duration")
MAX_METRIC_COLUMNS = 8
#: The ``latest_metrics`` row a metric sort joins for each run it walks.
SORT_METRIC = t.latest_metrics.alias("sort_metric")
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
    #: a cursor from the previous page's ``next_page``: this page starts after it
    after: str = ""
    #: a cursor from the next page's ``previous_page``: this page ends before it
    before: str = ""
    #: only runs of these experiments (a viewer's, behind lockgate server); None: all
    within: tuple[str, ...] | None = None


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
    #: ``RunQuery.after`` of the next page (None on the last page)
    next_page: str | None = None
    #: ``RunQuery.before`` of the previous page (None on pages 1 and 2: page 1 needs none)
    previous_page: str | None = None


def query_runs(store: Store, query: RunQuery) -> RunPage:
    """Fetch one page of runs matching ``query``, with their last metrics and params.

    A page the pager links to (``after`` / ``before``: a cursor) is read from that
    cursor, whatever its number; a page asked for by number alone skips the runs before
    it (an offset over the same walk).

    Raises:
        FilterError: the filter expression, status, sort key, page or cursor is invalid.
        NotFoundError: the experiment does not exist (with close matches).
    """
    if query.per_page < 1 or query.per_page > MAX_PER_PAGE:
        raise FilterError(f"per_page must be between 1 and {MAX_PER_PAGE}, got {query.per_page}.")
    if query.page < 1:
        raise FilterError(f"page must be 1 or more, got {query.page}.")
    conditions = _conditions(store, query)
    ahead = max(COUNT_AHEAD, query.per_page)
    segments = _segments(query.sort, query.descending, store.dialect, conditions,
                         metric_bounds(query.q))
    page = query.page
    with store.read() as conn:
        start = _start(conn, query, segments)
        if query.before and start is None:  # nothing a page long before it: the first
            page = 1
        offset = (page - 1) * query.per_page
        # One walk in the page's order gives the page and the count ahead of it: a
        # separate count was planned on its own (every top-level run checked on SQLite,
        # a bitmap of the whole metric range on PostgreSQL) and cost more than the page.
        window = run_cursor.read(conn, segments, start, ahead + 1,
                                 0 if start is not None else offset)
        # a page past the end: the same walk from the start, for the pager's way back
        total = offset + len(window) if window or not offset else len(
            run_cursor.read(conn, segments, None, offset))
        shown = window[:query.per_page]
        runs = records_in_order(conn, [row.run_id for row in shown])
    capped = len(window) > ahead
    total = min(total, offset + ahead)
    ids = [r.id for r in runs]
    metrics = store.last_metrics(ids)
    params = _params(store, ids)
    return RunPage(
        runs=runs, total=total, page=page, pages=max(1, math.ceil(total / query.per_page)),
        per_page=query.per_page, metrics=metrics, params=params,
        metric_keys=_columns(metrics, query.sort, "metrics.", MAX_METRIC_COLUMNS),
        param_keys=_columns(params, query.sort, "params.", MAX_PARAM_COLUMNS),
        total_capped=capped,
        next_page=_token(shown[-1], query) if len(window) > query.per_page else None,
        previous_page=_token(shown[0], query) if shown and page > 2 else None,
    )


def _start(conn: Any, query: RunQuery,
           segments: list[run_cursor.Segment]) -> run_cursor.Cursor | None:
    """Where the page starts reading: after the ``after`` cursor, or a page's length
    before the ``before`` cursor (None: from the top, or by offset)."""
    if query.after:
        return run_cursor.decode(query.after, query.sort, query.descending, segments)
    if not query.before:
        return None
    end = run_cursor.decode(query.before, query.sort, query.descending, segments)
    back = run_cursor.read_before(conn, segments, end, query.per_page + 1)
    return back[-1].cursor if len(back) > query.per_page else None


def _token(row: run_cursor.Row, query: RunQuery) -> str:
    return run_cursor.encode(row.cursor, query.sort, query.descending)


def _conditions(store: Store, query: RunQuery) -> list[sa.ColumnElement[bool]]:
    # soft-deleted runs (`lockgate runs delete`) are hidden, as in every listing
    conditions: list[sa.ColumnElement[bool]] = [live_run()]
    if not query.include_steps:
        conditions.append(_top_level(store, query.q, query.sort))
    if query.within is not None:
        conditions.append(t.experiments.c.name.in_(list(query.within)))
    if query.experiment:
        known = store.experiments() if query.within is None else list(query.within)
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
    sorted_by = _sort_metric(query.sort)
    walked = ({sorted_by: SORT_METRIC.c.value} if sorted_by is not None
              and any(b.key == sorted_by for b in metric_bounds(query.q)) else None)
    with store.read() as conn:
        # a bound on the sorted metric makes the page one walk of its index (_segments),
        # whose joined row then answers every comparison on that metric
        expression = parse_filter(query.q, dialect=store.dialect, count=capped_counter(conn),
                                  joined=walked)
    if expression is not None:
        conditions.append(expression)
    return conditions


def _top_level(store: Store, expression: str, sort: str = "") -> sa.ColumnElement[bool]:
    """``runs.parent_id IS NULL``; on SQLite written ``+runs.parent_id IS NULL`` when the
    filter requires a metric comparison few runs meet, or the page is sorted by name.

    Why: SQLite keeps no statistics and took ``parent_id IS NULL`` as a selective index
    equality, so ``metrics.auc >= 0.9999`` (89 of 1M runs) walked ``ix_runs_parent``
    over every run and probed the 89-run list (1.3-1.6 s, count and page). With the
    index term disabled the list drives: a primary-key lookup per matching run (42 ms
    and 74 ms cold). The capped count tells few from many, as in ``parse_filter``; a
    dense comparison keeps the index walk (its page ends early). Sorted by name, the same
    equality made SQLite read every top-level run and sort them (80 ms a page at 100k
    runs, any page); without it the page is a walk of ``ix_ui_runs_name`` from its
    cursor (under 1 ms), as PostgreSQL plans it.
    """
    if store.dialect != "sqlite" or not (sort == "name" or _few_required(store, expression)):
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
              bounds: Sequence[MetricBound] = ()) -> list[run_cursor.Segment]:
    """The page's order as consecutive queries, each one an index walk.

    A metric sort is three segments: runs with a value, by (value, run id) (the
    ``(key, value, run_id)`` index of ``latest_metrics``, walked either way, ties too);
    then runs whose last value is NaN, by run id the same way; then runs without the
    metric, newest first. One query with
    an outer join and ``NULLS LAST`` would have to sort every run instead. When the
    filter bounds the sorted metric (``metrics.auc >= 0.9``), the bound is put on the
    walked index too, and the NaN and missing segments, which cannot match, are dropped.
    """
    base = run_select().where(*conditions)
    newest = (Key(t.runs.c.start_time, True), Key(t.runs.c.id, True))
    key = _sort_metric(sort)
    if key is not None:
        last = SORT_METRIC
        keyed = base.join(last, sa.and_(last.c.run_id == t.runs.c.id, last.c.key == key))
        value = last.c.value
        has_key = sa.exists().where(t.latest_metrics.c.run_id == t.runs.c.id,
                                    t.latest_metrics.c.key == key)
        implied = [bound.on(value) for bound in bounds if bound.key == key]
        # the index's order or its reverse (run_page.metric_order)
        order = (Key(value, descending), Key(last.c.run_id, descending))
        if implied:
            return [Segment(keyed.where(*implied), order)]
        return [
            Segment(keyed.where(value.is_not(None)), order),
            Segment(keyed.where(value.is_(None)), order[1:]),
            Segment(base.where(~has_key), newest),
        ]
    return [_sorted(base, sort, descending, dialect)]


def _sort_metric(sort: str) -> str | None:
    """The metric key a sort names (``metrics.<key>``), else None."""
    if sort.startswith("metrics.") and len(sort) > len("metrics."):
        return sort[len("metrics."):]
    return None


def _sorted(select: sa.Select, sort: str, descending: bool,
            dialect: str) -> run_cursor.Segment:
    """Order by a run column or a param (an outer join on its key, runs without it
    last), ties newest first.

    ``NULLS LAST`` only where a key can be NULL (a param missing from a run): on a NOT
    NULL column it changes nothing but stops PostgreSQL walking the ``(parent_id,
    start_time, id)`` index backwards (0.7-1 s a page at 1M runs instead of a few ms).
    """
    secondary = (Key(t.runs.c.start_time, True), Key(t.runs.c.id, descending))
    if sort.startswith("params.") and len(sort) > len("params."):
        param = t.params.alias("sort_param")
        joined = select.outerjoin(param, sa.and_(param.c.run_id == t.runs.c.id,
                                                 param.c.key == sort[len("params."):]))
        # Numbers sort as numbers, everything else by its JSON text after them.
        return Segment(joined, (Key(numeric(param.c.value, dialect), descending, True),
                                Key(param.c.value, descending, True), *secondary))
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
        return Segment(select, (Key(column, descending), Key(t.runs.c.id, descending)))
    return Segment(select, (Key(column, descending), *secondary))


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
