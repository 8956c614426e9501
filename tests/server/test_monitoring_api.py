"""Monitoring records through a live server: incidents and measured windows read with
the same functions as embedded (``incidents``, ``get_incident``, ``window_history``),
scoped per model."""

from __future__ import annotations

import json
import time

import pytest
import sqlalchemy as sa

from lockgate.errors import NotFoundError
from lockgate.monitoring import get_incident, incidents, window_history
from lockgate.store import Store
from lockgate.store.remote import AccessDenied, RemoteStore
from lockgate.store.tables_monitoring import monitor_incidents, monitor_windows
from tests.server.conftest import Team


def _record(store: Store, model: str) -> int:
    now = time.time()
    with store.write() as conn:
        conn.execute(sa.insert(monitor_windows).values(
            model_name=model, model_version=1, window_start=now - 60, window_end=now,
            n_predictions=10, n_labeled=5, measures=json.dumps({"psi_max": 0.4}),
            details=json.dumps({}), created_at=now))
        return int(conn.execute(sa.insert(monitor_incidents).values(
            model_name=model, rule="drift", measure="psi_max", severity="warning",
            status="open", open_key=f"{model}\x1fdrift", opened_at=now, last_seen_at=now,
            value=0.4, threshold=0.2, window_start=now - 60, window_end=now,
            root_cause=json.dumps({"feature": "x"}), deliveries="[]", retraining="{}",
        )).inserted_primary_key[0])


def test_incidents_and_windows_read_through_the_server_per_model(team: Team) -> None:
    store = Store.open(team.settings)
    churn, theirs = _record(store, "churn"), _record(store, "other-model")
    reader = RemoteStore(team.url, team.tokens["reader"])
    other = RemoteStore(team.url, team.tokens["other"])
    try:
        assert [i.id for i in incidents(reader)] == [theirs, churn]
        found = get_incident(reader, churn)
        assert found == get_incident(store, churn)  # the same record as embedded
        assert found.root_cause == {"feature": "x"} and found.status == "open"
        assert [i.id for i in incidents(reader, "churn", status="open")] == [churn]
        assert incidents(reader, "churn", status="resolved") == []
        (window,) = window_history(reader, "churn")
        assert window == window_history(store, "churn")[0]
        # `other` reads its model's records only; churn's are as if they did not exist
        assert [i.id for i in incidents(other)] == [theirs]
        with pytest.raises(NotFoundError):
            get_incident(other, churn)
        with pytest.raises(NotFoundError):
            incidents(other, "churn")
        with pytest.raises(NotFoundError):
            window_history(other, "churn")
        assert len(window_history(other, "other-model")) == 1
        with pytest.raises(NotFoundError):
            get_incident(reader, 999_999)
    finally:
        reader.close()
        other.close()
    with pytest.raises(AccessDenied):
        incidents(RemoteStore(team.url, "lg_" + "x" * 43))
