"""Keyset pagination of runs: every run exactly once, in a total order, on both backends."""

from __future__ import annotations

import math

import pytest
import sqlalchemy as sa

from lockgate.config import Settings
from lockgate.store import Store
from lockgate.store import schema as t
from lockgate.store.run_page import PageTokenError


def _walk(store: Store, limit: int, **kw: object) -> list[str]:
    seen: list[str] = []
    token = None
    for _ in range(100):
        page = store.page_runs(limit=limit, after=token, **kw)  # type: ignore[arg-type]
        seen += [r.id for r in page.runs]
        token = page.next_page
        if token is None:
            return seen
    raise AssertionError("pagination did not end")


@pytest.fixture
def store(any_settings: Settings) -> Store:
    store = Store.open(any_settings)
    # Ties everywhere: equal start times, equal metric values, NaN, a run without auc.
    ids = [store.create_run(f"r{i}") for i in range(11)]
    with store.write() as conn:
        conn.execute(sa.update(t.runs).where(t.runs.c.id.in_(ids[:6])).values(start_time=5.0))
    values = [0.5, 0.5, 0.9, math.nan, 0.5, 0.1, math.nan, 0.9, 0.5, 0.2]
    store.log_metric_tuples([(r, "auc", 0, 0.0, v) for r, v in zip(ids[:10], values, strict=True)])
    return store


def _expected(store: Store, ascending: bool, **filters: object) -> list[str]:
    """Runs with ``auc`` by (value, run id), both in the direction asked, NaN last."""
    runs = {r.id: r for r in store.list_runs(limit=None, **filters)}  # type: ignore[arg-type]
    last = store.last_metrics(list(runs))
    keyed = [(rid, last[rid]["auc"]) for rid in runs if "auc" in last[rid]]
    values = sorted(((v, rid) for rid, v in keyed if not math.isnan(v)), reverse=not ascending)
    nans = sorted((rid for rid, v in keyed if math.isnan(v)), reverse=not ascending)
    return [rid for _, rid in values] + nans


@pytest.mark.parametrize("limit", [1, 3, 4, 20])
def test_pages_cover_every_run_once_in_order(store: Store, limit: int) -> None:
    assert _walk(store, limit) == [r.id for r in store.list_runs(limit=None)]
    for ascending in (False, True):
        walked = _walk(store, limit, sort_metric="auc", ascending=ascending)
        assert walked == _expected(store, ascending), ascending
        assert len(walked) == 10  # the run without `auc` is not listed


def test_tokens_are_checked(store: Store) -> None:
    token = store.page_runs(limit=2, sort_metric="auc").next_page
    assert token is not None
    with pytest.raises(PageTokenError, match="sorted by metric `auc`"):
        store.page_runs(limit=2, after=token)
    with pytest.raises(PageTokenError, match="not one this listing handed out"):
        store.page_runs(limit=2, after="bm90IGpzb24")
    with pytest.raises(PageTokenError, match="not one this listing handed out"):
        store.page_runs(limit=2, after="%%%")


@pytest.mark.parametrize("limit", [1, 2, 5])
def test_metric_pages_keep_filters(store: Store, limit: int) -> None:
    """Filters and a metric sort together: the filtered runs, each once, in sort order,
    with ties on the value and on the page boundary."""
    ids = [r.id for r in store.list_runs(limit=None)]
    for run_id in ids[::2]:
        store.end_run(run_id, "FAILED")
    child = store.create_run("step", experiment=store.get_run(ids[1]).experiment,
                             parent_id=ids[1], kind="step")
    store.log_metric_tuples([(child, "auc", 0, 0.0, 0.5)])
    for filters in ({"status": "failed"}, {"top_level": True}, {"kind": "step"},
                    {"status": "running", "top_level": True}):
        for ascending in (False, True):
            walked = _walk(store, limit, sort_metric="auc", ascending=ascending, **filters)
            assert walked == _expected(store, ascending, **filters), (filters, ascending)
            assert walked, filters


def test_metric_pages_are_one_index_range(any_settings: Settings) -> None:
    """A page of a metric sort, first or deep, is one range of ``(key, value, run_id)``
    starting at the token, in index order: no sort of the runs, no walk from the top of
    the index past the pages before it (its cost grew with the page number)."""
    from tests.store.sql_plans import plans, statements

    store = Store.open(any_settings)
    ids = [store.create_run(f"r{i}") for i in range(30)]
    store.log_metric_tuples([(r, "auc", 0, 0.0, float(i % 4)) for i, r in enumerate(ids)])
    for ascending in (False, True):
        token = store.page_runs(limit=5, sort_metric="auc", ascending=ascending).next_page
        with statements(store) as seen:
            store.page_runs(limit=5, sort_metric="auc", ascending=ascending)
            store.page_runs(limit=5, sort_metric="auc", ascending=ascending, after=token)
        found = plans(store, seen, "latest_metrics")
        assert len(found) >= 2, found
        for text in found:
            assert "ix_latest_metrics_key_value" in text, text
            if store.dialect == "sqlite":
                assert "TEMP B-TREE" not in text, text
            else:
                assert "Sort" not in text, text
        deep = found[-1]
        if store.dialect == "sqlite":
            assert "(value,run_id)" in deep.replace(" ", ""), deep
        else:
            assert "ROW(" in deep, deep


def test_page_runs_keeps_filters(store: Store) -> None:
    first = store.list_runs(limit=None)[0]
    store.end_run(first.id, "FAILED")
    page = store.page_runs(status="failed", limit=5)
    assert [r.id for r in page.runs] == [first.id] and page.next_page is None


def test_newest_first_pages_walk_the_start_time_index_on_sqlite(settings) -> None:  # type: ignore[no-untyped-def]
    """``deleted_at IS NULL`` must not steer SQLite (no statistics) onto
    ``ix_runs_deleted_at``: that read every run and sorted them (minutes for 100 pages
    at 1M runs) instead of walking ``(start_time, id)``."""

    from lockgate.store import Store, run_page
    from lockgate.store import schema as t
    from lockgate.store.repository import run_select

    store = Store.open(settings)
    position = run_page.Position("", False, None, 1e12, "z")
    for top_level in (False, True):
        query = run_select().where(run_page.newest_first_after(position))
        if top_level:
            query = query.where(t.runs.c.parent_id.is_(None))
        query = query.order_by(t.runs.c.start_time.desc(), t.runs.c.id.desc()).limit(50)
        with store.read() as conn:
            sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
            plan = " ".join(row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
        assert "ix_runs_deleted_at" not in plan and "TEMP B-TREE" not in plan, plan

