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
    parent = store.list_runs(limit=1)[0].id
    store.create_run("child", parent_id=parent, kind="step")
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


def test_filters_agree_with_and_without_the_summary(settings: Settings) -> None:
    import sqlalchemy as sa

    from lockgate.store import schema as t
    from lockgate.ui import parse_filter
    from lockgate.ui.metric_summary import refresh

    store = _store(settings)
    assert refresh(store)
    for q in ("metrics.score >= 6", "metrics.score < 3 or params.i > 9",
              "not metrics.score = 0", "metrics.missing = null"):
        results = []
        for summary in (False, True):
            clause = parse_filter(q, summary=summary)
            with store.read() as conn:
                results.append(sorted(conn.execute(
                    sa.select(t.runs.c.name).where(clause)).scalars()))
        assert results[0] == results[1], q


def test_long_param_values_still_log(any_settings: Settings) -> None:
    """The dashboard's params index must not limit what tracking can store."""
    store = Store.open(any_settings)
    run_id = store.create_run("big")
    store.log_params(run_id, {"grid": {"values": list(range(3000))}, "lr": 0.5})
    assert query_runs(store, RunQuery(q="params.lr = 0.5")).total == 1


def test_metric_summary_folds_in_bounded_steps(any_settings: Settings) -> None:
    """A GET never folds more than ``limit`` ids; the page is right while it catches up."""
    import sqlalchemy as sa

    from lockgate.store.tables_ui import ui_last_metrics
    from lockgate.ui import metric_summary

    store = _store(any_settings)  # 12 metric rows
    with store.read() as conn:
        ids = sorted(conn.execute(sa.select(sa.text("id")).select_from(
            sa.table("metrics"))).scalars())
    assert metric_summary.refresh(store, limit=5) is False
    with store.read() as conn:
        folded = conn.execute(sa.select(sa.func.count()).select_from(ui_last_metrics)).scalar()
    assert folded == len([i for i in ids if i <= 5]) < 12
    calls = 1
    while not metric_summary.refresh(store, limit=5):
        calls += 1
        assert calls < 10
    assert calls + 1 == -(-max(ids) // 5)  # 5 ids per call; the last call is not counted
    with store.read() as conn:
        assert conn.execute(
            sa.select(sa.func.count()).select_from(ui_last_metrics)).scalar() == 12
    assert query_runs(store, RunQuery(q="metrics.score >= 6")).total == 6
