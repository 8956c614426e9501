"""The runs page's query: pagination, sorting, filters and their errors."""

from __future__ import annotations

import pytest

from lockgate.config import Settings
from lockgate.errors import NotFoundError
from lockgate.store import Store
from lockgate.ui import FilterError, RunQuery, query_runs


def _store(settings: Settings, n: int = 12) -> Store:
    store = Store.open(settings)
    for i in range(n):
        run_id = store.create_run(f"run-{i:02d}", experiment="even" if i % 2 == 0 else "odd")
        store.log_params(run_id, {"i": i, "label": f"x{i % 3}"})
        store.log_metric_rows([{"run_id": run_id, "key": "score", "step": 0,
                                "timestamp": 0.0, "value": float((i * 7) % 12)}])
        store.end_run(run_id, "FINISHED" if i != 3 else "FAILED")
    return store


def test_pages_cover_every_run_once(any_settings: Settings) -> None:
    store = _store(any_settings)
    seen: list[str] = []
    first = query_runs(store, RunQuery(per_page=5))
    assert (first.total, first.pages) == (12, 3)
    for page in range(1, 4):
        seen += [r.name for r in query_runs(store, RunQuery(per_page=5, page=page)).runs]
    assert sorted(seen) == [f"run-{i:02d}" for i in range(12)]
    assert seen[0] == "run-11"  # newest first


def test_sort_by_metric_and_param(any_settings: Settings) -> None:
    store = _store(any_settings)
    by_score = query_runs(store, RunQuery(sort="metrics.score", descending=True, per_page=3))
    assert [by_score.metrics[r.id]["score"] for r in by_score.runs] == [11.0, 10.0, 9.0]
    assert "score" in by_score.metric_keys
    by_param = query_runs(store, RunQuery(sort="params.i", descending=False, per_page=3))
    assert [r.name for r in by_param.runs] == ["run-00", "run-01", "run-02"]  # numeric order
    by_name = query_runs(store, RunQuery(sort="name", descending=True, per_page=2))
    assert [r.name for r in by_name.runs] == ["run-11", "run-10"]


def test_filters_combine(settings: Settings) -> None:
    store = _store(settings)
    page = query_runs(store, RunQuery(experiment="odd", status="failed", q="params.i < 5"))
    assert [r.name for r in page.runs] == ["run-03"]
    tagged = store.list_runs(limit=1)[0]
    store.set_tags(tagged.id, {"team": "risk"})
    assert [r.id for r in query_runs(store, RunQuery(tags=(("team", "risk"),))).runs] == [
        tagged.id]


def test_steps_are_hidden_unless_asked(settings: Settings) -> None:
    store = _store(settings, n=1)
    parent = store.list_runs(limit=1)[0]
    store.create_run("child", experiment=parent.experiment, parent_id=parent.id, kind="step")
    assert query_runs(store, RunQuery()).total == 1
    assert query_runs(store, RunQuery(include_steps=True)).total == 2


def test_bad_queries_are_explained(settings: Settings) -> None:
    store = _store(settings, n=2)
    with pytest.raises(FilterError, match=r"Cannot sort by `stat`.*Did you mean `status`"):
        query_runs(store, RunQuery(sort="stat"))
    with pytest.raises(NotFoundError, match=r"No experiment `evn`.*Did you mean `even`"):
        query_runs(store, RunQuery(experiment="evn"))
    with pytest.raises(FilterError, match="per_page must be between 1 and 200, got 1000"):
        query_runs(store, RunQuery(per_page=1000))
    with pytest.raises(FilterError, match="page must be 1 or more"):
        query_runs(store, RunQuery(page=0))
    assert query_runs(store, RunQuery(page=99)).runs == []


def test_metric_summary_follows_new_points(any_settings: Settings) -> None:
    store = _store(any_settings, n=2)
    newest = store.list_runs(limit=1)[0].id
    assert query_runs(store, RunQuery(q="metrics.score >= 100")).total == 0
    store.log_metric_rows([
        {"run_id": newest, "key": "score", "step": 5, "timestamp": 1.0, "value": 500.0},
        {"run_id": newest, "key": "score", "step": 1, "timestamp": 2.0, "value": -1.0},
    ])
    # The last logged point (-1.0) counts, as on the page and in `lockgate runs list`.
    assert query_runs(store, RunQuery(q="metrics.score >= 100")).total == 0
    page = query_runs(store, RunQuery(q="metrics.score = -1", sort="metrics.score"))
    assert [r.id for r in page.runs] == [newest]
    assert page.metrics[newest]["score"] == -1.0
    store.log_metric_rows([
        {"run_id": newest, "key": "score", "step": 6, "timestamp": 3.0, "value": 700.0}])
    assert [r.id for r in query_runs(store, RunQuery(q="metrics.score > 600")).runs] == [
        newest]


def test_metric_filters_agree_with_the_history(any_settings: Settings) -> None:
    """Filters on ``latest_metrics`` select what the full metric history says."""
    import math

    store = _store(any_settings)
    newest = store.list_runs(limit=1)[0].id
    store.log_metric_rows([
        {"run_id": newest, "key": "score", "step": 9, "timestamp": 9.0, "value": math.nan}])
    history = {r.id: store.metrics(r.id, "score")[-1].value
               for r in store.list_runs(limit=None)}
    # store.metrics orders by step; the last *logged* point is the latest write here.
    cases = {"metrics.score >= 6": lambda v: v >= 6, "metrics.score < 3": lambda v: v < 3,
             "not metrics.score = 0": lambda v: v != 0,
             "metrics.score = null": lambda v: math.isnan(v)}
    for q, keep in cases.items():
        expected = sorted(run_id for run_id, v in history.items() if keep(v))
        found = sorted(r.id for r in query_runs(store, RunQuery(q=q, per_page=200)).runs)
        assert found == expected, q


def test_long_param_values_still_log(any_settings: Settings) -> None:
    """The dashboard's params index must not limit what tracking can store."""
    store = Store.open(any_settings)
    run_id = store.create_run("big")
    store.log_params(run_id, {"grid": {"values": list(range(3000))}, "lr": 0.5})
    assert query_runs(store, RunQuery(q="params.lr = 0.5")).total == 1


def test_a_runs_page_never_writes(any_settings: Settings) -> None:
    """The runs page right after logging is a read: no statement on the write engine and
    no read of the metric history (``metrics``), only of ``latest_metrics``."""
    import re

    import sqlalchemy as sa

    store = _store(any_settings)
    seen: list[str] = []

    def on_execute(conn, cursor, statement, *args) -> None:
        seen.append(statement)

    engines = {id(e): e for e in (store.reader, store.writer)}.values()  # one on PostgreSQL
    for engine in engines:
        sa.event.listen(engine, "before_cursor_execute", on_execute)
    try:
        for query in (RunQuery(), RunQuery(q="metrics.score >= 6", sort="metrics.score"),
                      RunQuery(sort="metrics.score", descending=False, page=2, per_page=5)):
            query_runs(store, query)
    finally:
        for engine in engines:
            sa.event.remove(engine, "before_cursor_execute", on_execute)
    # SQLite's reader opens a deferred transaction (plain BEGIN); a write would need
    # BEGIN IMMEDIATE or an INSERT / UPDATE / DELETE.
    assert seen and all(s.lstrip().upper().startswith("SELECT") or s.strip() == "BEGIN"
                        for s in seen), seen
    assert not [s for s in seen if re.search(r"(?<!\w)metrics\b", s)]


def test_metric_sort_pages_walk_values_then_nan_then_missing(any_settings: Settings) -> None:
    """Runs with a value in order, then NaN, then runs without the metric, on any page."""
    import math

    store = _store(any_settings)  # scores (i * 7) % 12 for 12 runs
    runs = store.list_runs(limit=None)
    store.log_metric_rows([{"run_id": runs[0].id, "key": "score", "step": 1,
                            "timestamp": 0.0, "value": math.nan}])
    bare = [store.create_run(f"bare-{i}") for i in range(3)]
    for descending in (True, False):
        seen = []
        for page in range(1, 6):
            seen += query_runs(store, RunQuery(sort="metrics.score", descending=descending,
                                               per_page=4, page=page)).runs
        values = [store.last_metrics([r.id])[r.id].get("score") for r in seen]
        numbers = values[:11]
        assert numbers == sorted(numbers, reverse=descending)
        assert math.isnan(values[11]) and [r.id for r in seen[12:]] == bare[::-1]


def test_counts_stop_ahead_of_the_page(settings: Settings,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from lockgate.store import run_query

    store = _store(settings)
    monkeypatch.setattr(run_query, "COUNT_AHEAD", 5)
    first = query_runs(store, RunQuery(per_page=2))
    assert (first.total, first.total_capped) == (5, True)
    deep = query_runs(store, RunQuery(per_page=2, page=5))  # counts to 8 + 5 >= 12
    assert (deep.total, deep.total_capped) == (12, False)


@pytest.mark.parametrize("dense_at", [1, 1_000_000])
def test_metric_filters_select_the_same_runs_checked_either_way(
        any_settings: Settings, monkeypatch: pytest.MonkeyPatch, dense_at: int) -> None:
    """A metric filter is a list of matching runs (few matches) or a run-by-run check
    (many, on SQLite); a bound on the sorted metric also bounds the walked index and drops
    the NaN and missing segments. None of it may change which runs a page shows."""
    import math

    from lockgate.store import run_filter

    monkeypatch.setattr(run_filter, "DENSE_MATCHES", dense_at)
    store = _store(any_settings)  # scores (i * 7) % 12, params i
    runs = {r.name: r.id for r in store.list_runs(limit=None)}
    store.log_metric_rows([{"run_id": runs["run-00"], "key": "score", "step": 1,
                            "timestamp": 0.0, "value": math.nan}])
    store.create_run("bare")
    score = {name: float((int(name[-2:]) * 7) % 12) for name in runs}
    score["run-00"] = math.nan
    cases = {
        "metrics.score >= 6": lambda n: score.get(n, math.nan) >= 6,
        "metrics.score >= 6 and params.i < 9": lambda n: score.get(n, math.nan) >= 6
        and n != "bare" and int(n[-2:]) < 9,
        "(metrics.score < 3 or params.i = 5) and metrics.score != 0":
            lambda n: (score.get(n, math.nan) < 3 or n == "run-05")
            and n in score and not math.isnan(score[n]) and score[n] != 0,
        "not metrics.score < 5": lambda n: not score.get(n, math.nan) < 5,
        # a bound on the sorted metric with more terms on it: all read the walked row
        "metrics.score >= 3 and (metrics.score < 9 or params.i = 5)":
            lambda n: score.get(n, math.nan) >= 3
            and (score[n] < 9 or n == "run-05"),
        "metrics.score >= 3 and not metrics.score = 6 and metrics.score != null":
            lambda n: score.get(n, math.nan) >= 3 and score[n] != 6,
    }
    for text, wanted in cases.items():
        for sort in ("metrics.score", "start_time"):
            for descending in (True, False):
                seen = []
                for page in range(1, 6):
                    seen += query_runs(store, RunQuery(q=text, sort=sort, per_page=3,
                                                       page=page, descending=descending)).runs
                names = [r.name for r in seen]
                assert sorted(names) == sorted(n for n in [*runs, "bare"] if wanted(n)), text
                if sort == "metrics.score":
                    values = [score[n] for n in names if n in score and not math.isnan(score[n])]
                    assert values == sorted(values, reverse=descending), (text, names)


def test_dense_metric_filters_are_checked_run_by_run_on_sqlite(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from lockgate.store import run_filter

    store = _store(settings)
    with store.read() as conn:
        count = run_filter.capped_counter(conn)
        few = run_filter.parse_filter("metrics.score >= 11", count=count)
        monkeypatch.setattr(run_filter, "DENSE_MATCHES", 2)
        many = run_filter.parse_filter("metrics.score >= 6", count=count)
    assert " IN " in str(few) and "EXISTS" not in str(few)
    assert "EXISTS" in str(many) and " IN " not in str(many)


def test_run_columns_sort_without_nulls_last() -> None:
    """NULLS LAST on a NOT NULL column stops PostgreSQL walking the index backwards."""
    from sqlalchemy.dialects import postgresql

    from lockgate.store.run_query import _segments

    for sort in ("start_time", "name", "status", "duration"):
        (newest,) = _segments(sort, True, "postgresql", [])
        assert "NULLS LAST" not in str(newest.walk().compile(dialect=postgresql.dialect())), sort
    (by_param,) = _segments("params.lr", True, "postgresql", [])
    assert "NULLS LAST" in str(by_param.walk().compile(dialect=postgresql.dialect()))


def test_selective_metric_filters_drive_from_their_runs_on_sqlite(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """A required metric comparison few runs meet: SQLite looks those runs up by primary
    key instead of walking every top-level run through ix_runs_parent (1.3-1.6 s at 1M
    runs); the runs listed are the same either way."""
    import sqlalchemy as sa

    from lockgate.store import run_filter

    store = _store(settings, n=40)
    plans: list[str] = []

    def explain(conn, cursor, statement, parameters, *args) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "runs" in statement:
            plans.append(" ".join(str(row[-1]) for row in cursor.connection.execute(
                "EXPLAIN QUERY PLAN " + statement, parameters)))

    sa.event.listen(store.reader, "before_cursor_execute", explain)
    try:
        few = query_runs(store, RunQuery(q="metrics.score >= 11"))
    finally:
        sa.event.remove(store.reader, "before_cursor_execute", explain)
    walked = [p for p in plans if "ix_runs_parent" in p]
    assert not walked, walked
    assert any("sqlite_autoindex_runs_1" in p for p in plans), plans
    expected = sorted(r.name for r in store.list_runs(limit=None)
                      if store.last_metrics([r.id])[r.id].get("score", -1) >= 11)
    assert sorted(r.name for r in few.runs) == expected and few.total == len(expected) > 0
    import lockgate.store.run_query as run_query

    # the same filter taken as dense keeps the index walk, and lists the same runs
    monkeypatch.setattr(run_filter, "DENSE_MATCHES", 1)
    monkeypatch.setattr(run_query, "DENSE_MATCHES", 1)
    again = query_runs(store, RunQuery(q="metrics.score >= 11"))
    assert [r.id for r in again.runs] == [r.id for r in few.runs]


@pytest.mark.parametrize("per_page", [1, 2, 3])
def test_metric_sort_ties_go_by_run_id_on_every_page(any_settings: Settings,
                                                     per_page: int) -> None:
    """Equal values (on page boundaries too), NaN, runs without the metric, a filter on
    the sorted metric and one on a param: every matching run once, in (value, run id)
    order in the direction asked, NaN after the values, runs without it last, and the
    count shown is exact."""
    import math

    store = Store.open(any_settings)
    values = [0.5, 0.5, 0.9, math.nan, 0.5, 0.1, math.nan, 0.9, 0.5, 0.2, None, None]
    ids = [store.create_run(f"r{i}") for i in range(len(values))]
    for i, (run_id, value) in enumerate(zip(ids, values, strict=True)):
        store.log_params(run_id, {"i": i})
        if value is not None:
            store.log_metric_tuples([(run_id, "auc", 0, 0.0, value)])
    value_of = dict(zip(ids, values, strict=True))

    def expected(descending: bool, keep: object) -> list[str]:
        chosen = [r for r in ids if keep(r)]  # type: ignore[operator]
        numbers = sorted(((value_of[r], r) for r in chosen if value_of[r] is not None
                          and not math.isnan(value_of[r])), reverse=descending)
        nans = sorted((r for r in chosen if value_of[r] is not None
                       and math.isnan(value_of[r])), reverse=descending)
        bare = [r for r in ids[::-1] if r in chosen and value_of[r] is None]
        return [r for _, r in numbers] + nans + bare

    cases = {"": lambda r: True,
             "metrics.auc >= 0.5": lambda r: (value_of[r] or -1) >= 0.5,
             "metrics.auc >= 0.5 and params.i < 8": lambda r: (value_of[r] or -1) >= 0.5
             and ids.index(r) < 8}
    for text, keep in cases.items():
        for descending in (True, False):
            seen: list[str] = []
            for page in range(1, 14):
                found = query_runs(store, RunQuery(q=text, sort="metrics.auc", page=page,
                                                   per_page=per_page, descending=descending))
                seen += [r.id for r in found.runs]
            assert seen == expected(descending, keep), (text, descending)
            assert found.total == len(seen) and not found.total_capped


def test_metric_sorted_pages_are_read_in_index_order(any_settings: Settings) -> None:
    """A metric-sorted page, filtered or not, and its count: walks of the sort index in
    order (no sort of the runs, no walk of every top-level run checking each), and the
    count only ever counts that ordered walk, never the whole store."""
    from tests.store.sql_plans import plans, statements

    store = _store(any_settings, n=30)
    for query in (RunQuery(sort="metrics.score"),
                  RunQuery(q="metrics.score >= 6", sort="metrics.score"),
                  RunQuery(q="metrics.score >= 6 and params.i < 20", sort="metrics.score",
                           page=2, per_page=4, descending=False)):
        with statements(store) as seen:
            query_runs(store, query)
        counts = [s.sql for s in seen if "count(" in s.sql and "FROM runs" in s.sql]
        assert all("ORDER BY" in sql for sql in counts), counts
        if "metrics.score >=" in query.q:
            # the walk is the filter on the sorted metric: no second read of the same
            # values, which PostgreSQL hash-joined with the walk and then sorted
            walks = [s.sql for s in seen if "sort_metric" in s.sql]
            assert walks and all(sql.count("latest_metrics") == 1 for sql in walks), walks
        for text in plans(store, seen, "sort_metric"):
            if store.dialect == "sqlite":
                assert "TEMP B-TREE" not in text and "ix_runs_parent" not in text, text
            else:
                assert "Sort" not in text, text


def test_the_runs_page_counts_no_more_than_it_shows(settings: Settings) -> None:
    """Rendering the runs page (the GET's work) never counts every run: no statement
    counts without a bound (the "no runs yet" check is an existence check)."""
    from lockgate.ui.pages import runs as runs_page
    from tests.store.sql_plans import statements

    store = _store(settings)
    for query in (RunQuery(), RunQuery(q="metrics.score >= 6", sort="metrics.score")):
        with statements(store) as seen:
            runs_page.render(store, query)
        unbounded = [s.sql for s in seen if "count(" in s.sql.lower() and "LIMIT" not in s.sql]
        assert not unbounded, unbounded
    empty = Store.open(Settings(home=settings.home.parent / "empty"))
    assert "No runs recorded yet" in runs_page.render(empty, RunQuery())


def test_name_sorted_pages_walk_the_name_index_on_sqlite(settings: Settings) -> None:
    """Sorted by name, SQLite walks ``ix_ui_runs_name`` (from the page's cursor) instead
    of reading every top-level run through ``ix_runs_parent`` and sorting them all."""
    from tests.store.sql_plans import plans, statements

    store = _store(settings, n=30)
    first = query_runs(store, RunQuery(sort="name", descending=False, per_page=4))
    for query in (RunQuery(sort="name", descending=False, per_page=4),
                  RunQuery(sort="name", descending=False, per_page=4, page=2,
                           after=first.next_page or "")):
        with statements(store) as seen:
            found = query_runs(store, query)
        walks = plans(store, seen, "ORDER BY runs.name")
        assert walks and all("ix_ui_runs_name" in p and "ix_runs_parent" not in p
                             for p in walks), walks
        assert found.runs
    names = [r.name for r in first.runs]
    assert names == sorted(names) == ["run-00", "run-01", "run-02", "run-03"]
