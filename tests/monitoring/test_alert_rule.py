"""Alert rules: parsing with every problem listed, and outcomes on samples."""

from __future__ import annotations

import pytest

from lockgate.monitoring.alert_rule import AlertRule, parse_rules
from lockgate.monitoring.duration import DurationError, format_duration, parse_duration


def _rule(**kw: object) -> AlertRule:
    rules, problems = parse_rules([{"name": "r", "measure": "drift.max_psi",
                                    "threshold": 0.25, **kw}])
    assert not problems, problems
    return rules[0]


def test_rule_fires_only_on_enough_samples() -> None:
    rule = _rule(min_samples=100)
    assert rule.evaluate({"drift.max_psi": 0.4}, {"predictions": 99}).state == "insufficient"
    assert rule.evaluate({"drift.max_psi": 0.4}, {"predictions": 100}).firing
    assert rule.evaluate({"drift.max_psi": 0.1}, {"predictions": 100}).state == "ok"
    assert rule.evaluate({"drift.max_psi": None}, {"predictions": 500}).state == "unavailable"


def test_performance_rules_count_labels_and_default_to_less_than() -> None:
    rules, _ = parse_rules([{"measure": "performance.accuracy", "threshold": 0.8,
                             "min_samples": 50}])
    rule = rules[0]
    assert rule.name == "performance.accuracy" and rule.op == "<"
    outcome = rule.evaluate({"performance.accuracy": 0.6}, {"predictions": 10_000, "labels": 10})
    assert outcome.state == "insufficient" and outcome.samples == 10
    assert rule.evaluate({"performance.accuracy": 0.6}, {"labels": 50}).firing


def test_every_problem_is_reported_with_close_matches() -> None:
    rules, problems = parse_rules([
        {"name": "a", "measure": "drift.max_pis", "threshold": "high", "window": "1 hour"},
        {"name": "b", "measure": "latency.p99_ms", "threshold": 1, "min_sample": 5},
        {"name": "c", "measure": "latency.p99_ms", "threshold": 1, "op": "=>"},
        {"name": "d", "measure": "drift.max_psi", "threshold": 1,
         "retrain": {"pipeline": "p.py:train", "promote_to": "production"}},
    ], source="mon.yaml")
    text = "\n".join(problems)
    assert rules == []
    assert "unknown measure `drift.max_pis`. Did you mean `drift.max_psi`" in text
    assert "`threshold` must be a number, found 'high'" in text
    assert "`1 hour` is not a duration" in text
    assert "unknown key `min_sample`. Did you mean `min_samples`" in text
    assert "`op` must be one of >, >=, <, <=" in text
    assert "only go to candidate or staging" in text
    assert all(p.startswith("mon.yaml: rules[") for p in problems)


def test_duplicate_rule_names_are_refused() -> None:
    _, problems = parse_rules([{"name": "x", "measure": "drift.max_psi", "threshold": 1},
                               {"name": "x", "measure": "drift.max_psi", "threshold": 2}])
    assert any("used twice" in p for p in problems)


def test_durations() -> None:
    assert parse_duration("5m") == 300 and parse_duration("1.5h") == 5400
    assert parse_duration(90) == 90
    assert format_duration(3600) == "1h" and format_duration(90) == "90s"
    with pytest.raises(DurationError, match="--every: `5 minutes` is not a duration"):
        parse_duration("5 minutes", where="--every")
    with pytest.raises(DurationError, match="must be positive"):
        parse_duration(0)
