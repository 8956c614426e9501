"""The database work of one request: what the server does per metric batch is counted
(connections checked out, statements sent), never timed.

Each checkout is a ping, a BEGIN and a COMMIT or ROLLBACK on PostgreSQL, so a request
that authenticates, authorizes, claims its idempotency key, writes and stores its answer
on separate connections waits for about four times the round trips of one that does it
on two (the token check, then one transaction).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from lockgate.store import Store
from lockgate.store.tables_auth import request_ids
from tests.server.conftest import Team


@contextmanager
def counted(store: Store) -> Iterator[dict[str, int]]:
    """Connections checked out and statements executed on ``store``'s engines."""
    seen = {"checkouts": 0, "statements": 0}
    engines = {id(store.reader): store.reader, id(store.writer): store.writer}

    def checkout(*_: Any) -> None:
        seen["checkouts"] += 1

    def statement(*_: Any) -> None:
        seen["statements"] += 1

    for engine in engines.values():
        sa.event.listen(engine.pool, "checkout", checkout)
        sa.event.listen(engine, "before_cursor_execute", statement)
    try:
        yield seen
    finally:
        for engine in engines.values():
            sa.event.remove(engine.pool, "checkout", checkout)
            sa.event.remove(engine, "before_cursor_execute", statement)


def _post_batch(team: Team, run_id: str, key: str, step: int) -> Any:
    with team.client("writer") as client:
        return client.post(f"/api/v1/runs/{run_id}/metrics", headers={"idempotency-key": key},
                           json={"points": [["loss", step, 1.0, 0.5], ["acc", step, 1.0, 0.9]]})


def test_a_metric_batch_uses_two_connections(team: Team) -> None:
    store: Store = team.server.app.state.team.store
    run_id = store.create_run("r", experiment="alpha")
    assert _post_batch(team, run_id, "warm", 0).status_code == 200  # run -> experiment known
    with counted(store) as seen:
        answer = _post_batch(team, run_id, uuid.uuid4().hex, 1)
    assert answer.status_code == 200, answer.text
    # the token check (token, user and grants in one query), then one transaction:
    # idempotency claim + points + latest values + answer
    assert seen["checkouts"] == 2, seen
    assert seen["statements"] <= 9, seen  # SQLite: 2 BEGINs, a savepoint and its release
    assert len(store.metrics(run_id, "loss")) == 2


def test_a_repeated_key_is_answered_once_and_stores_nothing_twice(team: Team) -> None:
    store: Store = team.server.app.state.team.store
    run_id = store.create_run("r", experiment="alpha")
    first = _post_batch(team, run_id, "same", 0)
    again = _post_batch(team, run_id, "same", 0)
    assert first.json() == again.json() == {"stored": 2}
    assert len(store.metrics(run_id, "loss")) == 1
    with store.read() as conn:
        answers = conn.execute(sa.select(request_ids.c.answer_json)).scalars().all()
    assert answers == ['{"stored": 2}', '{"stored": 2}'] or '{"stored": 2}' in answers


def test_a_failed_request_leaves_neither_its_key_nor_part_of_its_work(team: Team) -> None:
    """One transaction: points that cannot be stored leave no claim behind, so the
    corrected retry under the same key is applied."""
    store: Store = team.server.app.state.team.store
    run_id = store.create_run("r", experiment="alpha")
    with team.client("writer") as client:
        bad = client.post(f"/api/v1/runs/{run_id}/metrics", headers={"idempotency-key": "k"},
                          json={"points": [["loss", 0, 1.0, 0.5], ["loss", "x", 1.0, 1.0]]})
        assert bad.status_code == 400, bad.text
        good = client.post(f"/api/v1/runs/{run_id}/metrics", headers={"idempotency-key": "k"},
                           json={"points": [["loss", 0, 1.0, 0.5]]})
    assert good.status_code == 200 and good.json() == {"stored": 1}
    assert [p.value for p in store.metrics(run_id, "loss")] == [0.5]


def test_creating_a_run_in_a_new_experiment_inside_one_transaction(team: Team) -> None:
    """The experiment's get-or-create runs inside the request's transaction."""
    with team.client("writer") as client:
        made = client.post("/api/v1/runs", headers={"idempotency-key": "new-exp"},
                           json={"name": "r", "experiment": "fresh"})
        again = client.post("/api/v1/runs", headers={"idempotency-key": "new-exp"},
                            json={"name": "r", "experiment": "fresh"})
    assert made.status_code == 200, made.text
    assert again.json() == made.json()
    store: Store = team.server.app.state.team.store
    assert [r.id for r in store.list_runs(experiment="fresh")] == [made.json()["id"]]
