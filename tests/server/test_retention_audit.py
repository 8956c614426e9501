"""Retention's deletions are state changes like any other: each is in the audit log
with who, when and before/after, embedded and through the server, and over the server
each needs its role (writer of the run's experiment; gc: admin)."""

from __future__ import annotations

import dataclasses
import time

import pytest

from lockgate.config import Settings
from lockgate.retention import Policies, collect_garbage, delete_runs, restore_runs
from lockgate.store import Store, audit
from lockgate.store.remote import AccessDenied
from tests.server.conftest import Team


def test_delete_restore_and_purge_are_audited_embedded(settings: Settings) -> None:
    store = Store.open(settings)
    run_id = store.create_run("old", experiment="alpha", status="FINISHED")
    delete_runs([run_id], store=store)
    (deleted,) = audit.entries(store, action="deleted")
    assert deleted.target == f"run:{run_id}" and deleted.actor.startswith("os:")
    assert deleted.before == {"deleted_at": None} and deleted.after["deleted_at"] > 0
    restore_runs([run_id], store=store)
    (restored,) = audit.entries(store, action="restored")
    assert restored.before == {"deleted_at": deleted.after["deleted_at"]}
    assert restored.after == {"deleted_at": None}
    delete_runs([run_id], store=store)
    later = time.time() + (settings.run_purge_days + 1) * 86400
    collect_garbage(dry_run=True, settings=settings, policies=Policies(), now=later)
    assert audit.entries(store, action="purged") == []  # a dry run changes nothing
    assert audit.entries(store, action="gc.ran") == []
    collect_garbage(dry_run=False, settings=settings, policies=Policies(), now=later)
    (purged,) = audit.entries(store, action="purged")
    assert purged.target == f"run:{run_id}"
    assert purged.before["name"] == "old" and purged.before["experiment"] == "alpha"
    (ran,) = audit.entries(store, action="gc.ran")
    assert ran.after["changes"].get("run:purge") == 1


def _client_settings(team: Team, user: str, monkeypatch: pytest.MonkeyPatch,
                     tmp_path_name: str) -> Settings:
    monkeypatch.setenv("LOCKGATE_TOKEN", team.tokens[user])
    Store.close_all(team.url)
    return dataclasses.replace(team.settings, tracking_uri=team.url,
                               home=team.settings.home.parent / tmp_path_name)


def test_over_the_server_deletions_need_a_writer_and_name_the_user(
        team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store.open(team.settings)
    run_id = store.create_run("r", experiment="alpha", status="FINISHED")
    for user, refusal in (("reader", AccessDenied), ("other", Exception)):
        with pytest.raises(refusal):
            delete_runs([run_id], settings=_client_settings(team, user, monkeypatch, user))
    assert store.get_run(run_id).deleted_at is None
    writer = _client_settings(team, "writer", monkeypatch, "writer")
    assert [r.id for r in delete_runs([run_id], settings=writer)] == [run_id]
    assert store.get_run(run_id).deleted_at is not None
    assert [r.id for r in restore_runs([run_id[:8]], settings=writer)] == [run_id]
    actions = [(e.action, e.actor) for e in audit.entries(store, target=f"run:{run_id}")]
    assert actions[:2] == [("restored", "writer"), ("deleted", "writer")]


def test_over_the_server_gc_is_for_admins_and_audited(
        team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(AccessDenied):
        collect_garbage(dry_run=False, settings=_client_settings(team, "writer", monkeypatch,
                                                                 "w"))
    dry = collect_garbage(dry_run=True, settings=_client_settings(team, "admin", monkeypatch,
                                                                  "a"))
    assert dry.dry_run
    store = Store.open(team.settings)
    assert audit.entries(store, action="gc.ran") == []
    done = collect_garbage(dry_run=False, settings=_client_settings(team, "admin",
                                                                     monkeypatch, "a2"))
    assert not done.dry_run
    (ran,) = audit.entries(store, action="gc.ran")
    assert ran.actor == "admin"
