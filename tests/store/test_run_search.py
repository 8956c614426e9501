"""``find_runs`` (``search_runs``' query): an order led by a metric reads the
``latest_metrics`` index as a walk, and lists exactly what the one-query form (a
correlated lookup of the last value per run, ``NULLS LAST``) listed."""

from __future__ import annotations

import math
import random

import pytest
import sqlalchemy as sa

from lockgate.config import Settings
from lockgate.store import Store
from lockgate.store import schema as t
from lockgate.store.repository import run_record, run_select
from lockgate.store.run_filter import capped_counter, parse_filter
from lockgate.store.run_search import _order_clauses, find_runs
from tests.store.sql_plans import plans, statements
from tests.store.test_run_cursor import populate


def one_query(store: Store, filter: str, order_by: list[str], max_results: int,
              include_steps: bool = False) -> list[str]:
    """The run ids ``find_runs`` listed before the walk: every order clause in one
    ``ORDER BY``, a metric as a correlated scalar subquery."""
    query = run_select()
    if not include_steps:
        query = query.where(t.runs.c.parent_id.is_(None))
    with store.read() as conn:
        condition = parse_filter(filter, dialect=store.dialect, count=capped_counter(conn))
        if condition is not None:
            query = query.where(condition)
        query = query.order_by(*(c for o in order_by for c in _order_clauses(o, store.dialect)),
                               t.runs.c.start_time.desc(), t.runs.c.id.desc())
        return [run_record(row).id for row in conn.execute(query.limit(max_results))]


ORDERS = (["metrics.score DESC"], ["metrics.score"], ["metrics.score ASC", "name DESC"],
          ["metrics.score DESC", "params.lr", "metrics.other"], ["metrics.missing DESC"],
          ["metrics.other DESC", "metrics.score"])
FILTERS = ("", "metrics.score >= 0.5", "metrics.score < 0.3 and params.lr > 0.05",
           "metrics.score >= 0.25 and (metrics.score < 0.9 or status = FAILED)",
           "metrics.score = null", "not metrics.score > 0.5", "status = KILLED",
           "metrics.other > 0.5 or metrics.score < 0.2")


def test_metric_orders_list_what_the_one_query_form_listed(any_settings: Settings) -> None:
    store = Store.open(any_settings)
    ids = populate(store, runs=500)  # ties, NaN and missing scores, steps, deleted runs
    rng = random.Random(3)
    store.log_metric_tuples([(run_id, "other", 0, 0.0, math.nan if i % 5 == 0 else
                              rng.choice([0.2, 0.6])) for i, run_id in enumerate(ids)
                             if i % 3])
    for order in ORDERS:
        for text in FILTERS:
            for limit, steps in ((37, False), (600, True)):
                expected = one_query(store, text, order, limit, steps)
                found = [r.id for r in find_runs(store, text, order, max_results=limit,
                                                 include_steps=steps)]
                assert found == expected, (order, text, limit, steps)


def test_a_metric_order_walks_the_index(any_settings: Settings) -> None:
    """The page of runs with a value is a walk of ``latest_metrics (key, value, run_id)``
    that stops after ``max_results`` rows: no correlated lookup of every run's value."""
    store = Store.open(any_settings)
    populate(store, runs=200)
    for text in ("", "metrics.score >= 0.5"):
        with statements(store) as seen:
            find_runs(store, text, "metrics.score DESC", max_results=10)
        walks = [s.sql for s in seen if "order_metric" in s.sql]
        assert walks, [s.sql for s in seen]
        # one read of latest_metrics in the walk: the filter's bound reads the joined row
        if text:
            assert all(sql.count("latest_metrics") == 1 for sql in walks), walks
        for plan in plans(store, seen, "order_metric"):
            index = ("ix_latest_metrics_key_value" in plan if store.dialect == "sqlite"
                     else "latest_metrics_key_value" in plan)
            assert index, plan


@pytest.mark.parametrize("order", ["metrics.score DESC", "metrics.score"])
def test_runs_without_the_metric_come_last(settings: Settings, order: str) -> None:
    store = Store.open(settings)
    with_value = store.create_run("valued")
    store.log_metric_tuples([(with_value, "score", 0, 0.0, 0.5)])
    nan = store.create_run("nan")
    store.log_metric_tuples([(nan, "score", 0, 0.0, math.nan)])
    bare = store.create_run("bare")
    found = [r.name for r in find_runs(store, "", order)]
    assert found == ["valued", "bare", "nan"]  # no value: newest first, NaN or missing
    assert [r.id for r in find_runs(store, "", order, max_results=1)] == [with_value]
    assert bare  # (created last: newest)
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.runs)).scalar_one() == 3
