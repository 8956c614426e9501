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


def _expected(store: Store, ascending: bool) -> list[str]:
    runs = {r.id: r for r in store.list_runs(limit=None)}
    last = store.last_metrics(list(runs))
    keyed = [(rid, last[rid]["auc"]) for rid in runs if "auc" in last[rid]]
    newest = sorted(keyed, key=lambda kv: (runs[kv[0]].start_time, kv[0]), reverse=True)
    return [rid for rid, v in sorted(newest, key=lambda kv: (
        math.isnan(kv[1]), 0 if math.isnan(kv[1]) else (kv[1] if ascending else -kv[1])))]


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

