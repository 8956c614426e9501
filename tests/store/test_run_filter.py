"""The filter language: parsed into bound SQL, checked against a real store."""

from __future__ import annotations

import pytest

from lockgate.config import Settings
from lockgate.store import Store
from lockgate.store.run_filter import tokenize
from lockgate.ui import FilterError, RunQuery, parse_filter, query_runs


def _store_with_runs(settings: Settings) -> tuple[Store, dict[str, str]]:
    store = Store.open(settings)
    ids = {}
    for name, lr, auc, opt, team in [("a", 0.1, 0.95, "adam", "risk"),
                                     ("b", 0.01, 0.85, "sgd", "risk"),
                                     ("c", 0.001, 0.92, "adam", "growth")]:
        run_id = store.create_run(name, experiment="exp")
        store.log_params(run_id, {"lr": lr, "opt": opt, "model.depth": 3, "flag": True})
        store.log_metric_rows([
            {"run_id": run_id, "key": "auc", "step": 0, "timestamp": 0.0, "value": 0.5},
            {"run_id": run_id, "key": "auc", "step": 1, "timestamp": 1.0, "value": auc},
        ])
        store.set_tags(run_id, {"team": team, "size": "10"})
        store.end_run(run_id, "FINISHED")
        ids[name] = run_id
    return store, ids


def _names(store: Store, q: str, **kw: object) -> list[str]:
    page = query_runs(store, RunQuery(q=q, sort="name", descending=False, **kw))  # type: ignore[arg-type]
    return [r.name for r in page.runs]


@pytest.mark.parametrize(("q", "expected"), [
    ("params.lr > 0.005 and metrics.auc >= 0.9", ["a"]),
    ("params.lr > 0.005 or metrics.auc >= 0.9", ["a", "b", "c"]),
    ("metrics.auc < 0.9", ["b"]),  # the last value, not the first (0.5)
    ("params.opt = adam", ["a", "c"]),
    ("params.opt != 'adam'", ["b"]),
    ("params.\"model.depth\" = 3", ["a", "b", "c"]),
    ("params.model.depth >= 3 and not tags.team = risk", ["c"]),
    ("(tags.team = risk and params.lr < 0.05) or name = \"c\"", ["b", "c"]),
    ("tags.size > 5", ["a", "b", "c"]),
    ("params.flag = true", ["a", "b", "c"]),
    ("name ~ b", ["b"]),
    ("status = finished and experiment = exp", ["a", "b", "c"]),
    ("params.missing = null", ["a", "b", "c"]),
    ("metrics.nothing > 0", []),
])
def test_filters_select_the_right_runs(any_settings: Settings, q: str,
                                       expected: list[str]) -> None:
    store, _ = _store_with_runs(any_settings)
    assert _names(store, q) == expected


def test_values_are_bound_never_inlined() -> None:
    clause = parse_filter("name = \"x' OR 1=1 --\" and params.lr > 0.1")
    sql = str(clause.compile())
    assert "OR 1=1" not in sql
    params = clause.compile().params
    assert "x' OR 1=1 --" in params.values()


def test_injection_text_matches_nothing(settings: Settings) -> None:
    store, _ = _store_with_runs(settings)
    assert _names(store, "name = \"a' OR '1'='1\"") == []
    assert store.count_runs() == 3


@pytest.mark.parametrize(("q", "message"), [
    ("params.lr >", r"ends early: expected a value"),
    ("foo = 1", r"position 1: unknown field `foo`"),
    ("params.lr > 0.1 and", r"ends early"),
    ("metrics.auc = high", r"metrics are numbers"),
    ("x; drop table runs", r"Unexpected character ';'"),
    ("status = DONE", r"Unknown status `DONE`"),
    ("(params.lr > 1", r"ends early: expected `\)`"),
    ("params lr > 1", r"expected `.` after `params`"),
    ("params.lr 1", r"expected an operator"),
    ("paramz.lr > 1", r"Did you mean `params`"),
    ("params.lr > 0.1 params.lr", r"unexpected `params`"),
])
def test_bad_filters_say_where_and_how(q: str, message: str) -> None:
    with pytest.raises(FilterError, match=message):
        parse_filter(q)


def test_limits_refuse_huge_filters() -> None:
    with pytest.raises(FilterError, match="limit is 2000"):
        parse_filter("name = a or " * 300 + "name = b")
    with pytest.raises(FilterError, match="more than 32 comparisons"):
        parse_filter(" or ".join(["name = a"] * 40))


def test_tokens_keep_positions() -> None:
    tokens = tokenize("params.lr>=1e-3")
    assert [(t.kind, t.text) for t in tokens] == [
        ("word", "params"), ("dot", "."), ("word", "lr"), ("op", ">="), ("num", "1e-3")]
    assert tokens[3].pos == 9


def test_empty_filter_is_no_filter() -> None:
    assert parse_filter("   ") is None


def test_metric_bounds_are_the_comparisons_every_selected_run_meets() -> None:
    from lockgate.store.run_filter import MetricBound, metric_bounds

    assert metric_bounds("metrics.auc >= 0.9") == [MetricBound("auc", ">=", 0.9)]
    assert metric_bounds("metrics.auc >= 0.9 and params.lr < 1 and metrics.loss < 2") == [
        MetricBound("auc", ">=", 0.9), MetricBound("loss", "<", 2.0)]
    assert metric_bounds("(metrics.auc > 0.5 or params.x = 1) and metrics.loss <= 1") == [
        MetricBound("loss", "<=", 1.0)]
    assert metric_bounds("(metrics.auc > 0.5 and metrics.loss < 3)") == [
        MetricBound("auc", ">", 0.5), MetricBound("loss", "<", 3.0)]
    for none in ("metrics.auc > 0.5 or metrics.auc < 0.1", "not metrics.auc > 0.5",
                 "metrics.auc != 0.5", "metrics.auc = null", "params.lr > 1", "", "((("):
        assert metric_bounds(none) == [], none
