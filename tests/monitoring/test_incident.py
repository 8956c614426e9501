"""Incidents: one alert per incident until it resolves, one resolve, state in the store
(SQLite and PostgreSQL), and a failing sink recorded without stopping the others."""

from __future__ import annotations

import pytest

from lockgate.config import Settings
from lockgate.monitoring import AlertEvent, MemorySink, incidents
from lockgate.monitoring.alert_rule import parse_rules
from lockgate.monitoring.alert_sink import AlertDeliveryError
from lockgate.monitoring.incident import apply_outcome, deliver, open_incident
from lockgate.store import Store

RULE = parse_rules([{"name": "drift", "measure": "drift.max_psi", "threshold": 0.25,
                     "min_samples": 10}])[0][0]


def _step(store: Store, value: float, n: int = 100) -> str:
    outcome = RULE.evaluate({"drift.max_psi": value}, {"predictions": n})
    transition = apply_outcome(store, "churn", RULE, outcome, window=(0.0, 3600.0),
                               root_cause={"summary": "amount drifted"})
    if transition.event is not None:
        deliver(store, transition.event, [SINK])
    return transition.action


SINK = MemorySink()


def test_one_alert_per_incident_then_one_resolve(any_settings: Settings) -> None:
    store = Store.open(any_settings)
    SINK.events.clear()
    actions = [_step(store, v) for v in (0.1, 0.5, 0.6, 0.7)]
    assert actions == ["none", "opened", "continued", "continued"]
    assert [e.kind for e in SINK.events] == ["alert"]
    assert _step(store, 0.01, n=3) == "none"  # too few samples: stays open, no message
    assert open_incident(store, "churn", "drift") is not None
    assert _step(store, 0.05) == "resolved"
    assert [e.kind for e in SINK.events] == ["alert", "resolve"]
    assert "amount drifted" in SINK.events[0].message
    assert _step(store, 0.8) == "opened"  # a new incident after the resolve
    found = incidents(store, "churn")
    assert [i.status for i in found] == ["open", "resolved"]
    assert found[1].resolved_at is not None and found[1].value == 0.7
    assert [d["kind"] for d in found[1].deliveries] == ["alert", "resolve"]


def test_insufficient_samples_neither_open_nor_resolve(settings: Settings) -> None:
    store = Store.open(settings)
    assert _step(store, 0.9, n=5) == "none"
    assert open_incident(store, "churn", "drift") is None


def test_concurrent_open_raises_one_alert(settings: Settings) -> None:
    store = Store.open(settings)
    outcome = RULE.evaluate({"drift.max_psi": 0.9}, {"predictions": 100})
    first = apply_outcome(store, "churn", RULE, outcome, window=(0.0, 1.0))
    # a second monitor that read "no open incident" before the first committed
    from lockgate.monitoring import incident as inc

    second = inc._insert(store, "churn", RULE, outcome, (0.0, 1.0), {}, 0.0)
    assert first.action == "opened" and second is None


class _Broken:
    name = "broken"

    def send(self, event: AlertEvent) -> None:
        raise AlertDeliveryError("receiver down")


def test_a_failing_sink_is_recorded_and_others_still_get_the_alert(settings: Settings) -> None:
    store = Store.open(settings)
    memory = MemorySink()
    outcome = RULE.evaluate({"drift.max_psi": 0.9}, {"predictions": 100})
    transition = apply_outcome(store, "churn", RULE, outcome, window=(0.0, 1.0))
    assert transition.event is not None
    results = deliver(store, transition.event, [_Broken(), memory])
    assert [r["ok"] for r in results] == [False, True]
    assert len(memory.events) == 1
    stored = incidents(store, "churn")[0].deliveries
    assert stored[0]["error"] == "receiver down"


@pytest.mark.parametrize("value", [0.26, 10.0])
def test_value_recorded(settings: Settings, value: float) -> None:
    store = Store.open(settings)
    _step(store, value)
    assert incidents(store, "churn")[0].value == pytest.approx(value)
