"""Monitor passes through the server are bounded: one at a time per model (a second is
refused with 409 and Retry-After, a retry of the same request joins the running one)
and a few at a time per server (429 and Retry-After), so passes that may each take
minutes never take every worker thread: other requests are still answered."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from lockgate.errors import NotFoundError
from lockgate.server.pass_slots import PassSlots
from lockgate.store.remote import RemoteStore
from tests.server.conftest import Team

PASSES = "/api/v1/monitoring/models/{}/passes"


def _slots(team: Team) -> PassSlots:
    return team.server.app.state.team.passes  # type: ignore[no-any-return]


def _still_answered(team: Team) -> None:
    with team.client("writer") as client:
        assert client.get("/health").status_code == 200
        assert client.get("/api/v1/runs").status_code == 200


def test_a_second_pass_on_a_model_is_refused_while_one_runs(team: Team) -> None:
    slots = _slots(team)
    with slots.held("churn"), team.client("writer") as client:
        refused = client.post(PASSES.format("churn"), json={})
        assert refused.status_code == 409, refused.text
        assert "already running" in refused.text and "churn" in refused.text
        assert int(refused.headers["retry-after"]) >= 1
        _still_answered(team)
    with team.client("writer") as client:  # free again: the pass runs (no such model)
        assert client.post(PASSES.format("churn"), json={}).status_code == 404


def test_passes_beyond_the_servers_limit_are_refused(team: Team) -> None:
    slots = _slots(team)
    held = [slots.held(f"model-{n}") for n in range(slots.limit)]
    for slot in held:
        slot.__enter__()
    try:
        with team.client("writer") as client:
            refused = client.post(PASSES.format("churn"), json={})
        assert refused.status_code == 429, refused.text
        assert f"{slots.limit} monitor passes" in refused.text
        assert int(refused.headers["retry-after"]) >= 1
        _still_answered(team)
    finally:
        for slot in held:
            slot.__exit__(None, None, None)
    assert slots.running() == {}


def test_a_slot_is_freed_when_the_pass_fails() -> None:
    slots = PassSlots(limit=1)
    with pytest.raises(RuntimeError), slots.held("churn"):
        raise RuntimeError("the pass failed")
    with slots.held("churn"):
        assert set(slots.running()) == {"churn"}


@pytest.fixture
def blocked_pass(team: Team, monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """The server's pass waits for the event (a real pass is too quick to overlap)."""
    from lockgate.server.routes import monitoring

    release = threading.Event()

    def slow(*_args: Any) -> dict[str, Any]:
        assert release.wait(60), "the test never released the pass"
        return {"model": "churn", "slow": True}

    monkeypatch.setattr(monitoring, "_run_pass", slow)
    yield release
    release.set()


def test_a_retry_of_the_running_pass_joins_it(team: Team,
                                               blocked_pass: threading.Event) -> None:
    answers: list[Any] = []

    def ask() -> None:
        remote = RemoteStore(team.url, team.tokens["writer"])
        try:
            answers.append(remote.request("POST", "/monitoring/models/churn/passes",
                                          json_body={}, idempotent=True, key="k1",
                                          deadline=time.monotonic() + 60).json())
        finally:
            remote.close()

    first = threading.Thread(target=ask)
    first.start()
    slots = _slots(team)
    deadline = time.monotonic() + 30
    while "churn" not in slots.running():
        assert time.monotonic() < deadline, "the first pass never started"
        time.sleep(0.01)
    retry = threading.Thread(target=ask)  # the same Idempotency-Key: waits, then joins
    retry.start()
    with team.client("writer") as client:  # another request: refused, not queued
        assert client.post(PASSES.format("churn"), json={}).status_code == 409
    _still_answered(team)
    blocked_pass.set()
    first.join(60)
    retry.join(60)
    assert answers == [{"model": "churn", "slow": True}] * 2


def test_the_client_is_told_a_pass_is_running(team: Team) -> None:
    from lockgate.monitoring.server_pass import run_on_server
    from lockgate.store.remote import RemoteError

    remote = RemoteStore(team.url, team.tokens["writer"])
    try:
        with _slots(team).held("churn"), pytest.raises(RemoteError, match="already running"):
            run_on_server(remote, "churn@production")
    finally:
        remote.close()


def test_a_watching_client_waits_out_a_running_pass_and_then_runs_its_own(team: Team) -> None:
    """`lockgate monitor --every` through the server: a pass that meets a running one
    waits the server's Retry-After and asks again, instead of ending the watch."""
    from lockgate.monitoring.server_pass import run_when_free
    from lockgate.store.remote import Busy

    slot = _slots(team).held("churn")
    slot.__enter__()
    waits: list[float] = []
    told: list[Busy] = []

    def sleep(seconds: float) -> None:  # the running pass ends while the client waits
        waits.append(seconds)
        slot.__exit__(None, None, None)

    remote = RemoteStore(team.url, team.tokens["writer"])
    try:
        with pytest.raises(NotFoundError, match="churn"):  # the pass ran: no such model
            run_when_free(remote, "churn@production", sleep=sleep, on_wait=told.append)
    finally:
        remote.close()
    assert len(waits) == 1 and waits[0] >= 1
    assert "already running" in str(told[0]) and told[0].retry_after == waits[0]
