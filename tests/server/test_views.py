"""Saved views through a live server: the same functions as embedded
(``save_view``/``get_view``/``list_views``/``delete_view``), role-checked (a shared
view is changed by global writers), audited, and filtered for a user limited to its
grants."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.errors import NotFoundError
from lockgate.security import accounts
from lockgate.store import Store, audit
from lockgate.store.remote import AccessDenied, RemoteStore
from lockgate.store.run_filter import FilterError
from lockgate.tracking import delete_view, get_view, list_views, save_view
from lockgate.tracking.saved_view import ViewError
from tests.server.conftest import Team
from tests.server.remote import served_settings


def test_views_are_saved_read_replaced_and_deleted_through_the_server(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with served_settings(tmp_path, monkeypatch) as client:
        save_view("by-auc", columns=["name", "metrics.auc"], sort="metrics.auc",
                  filter="metrics.auc >= 0.8", experiment="churn", settings=client)
        found = get_view("by-auc", settings=client)
        assert (found.columns, found.sort, found.filter, found.experiment) == (
            ("name", "metrics.auc"), "metrics.auc", "metrics.auc >= 0.8", "churn")
        save_view("by-auc", columns=["metrics.loss"], descending=False, settings=client)
        assert get_view("by-auc", settings=client).columns == ("metrics.loss",)
        save_view("all", settings=client)
        assert [v.name for v in list_views(settings=client)] == ["all", "by-auc"]
        delete_view("all", settings=client)
        with pytest.raises(NotFoundError, match="Did you mean `by-auc`"):
            get_view("by-acu", settings=client)
        with pytest.raises(NotFoundError, match="No saved view `all`"):
            delete_view("all", settings=client)
        with pytest.raises(ViewError, match="Unknown column `nme`"):
            save_view("v", columns=["nme"], settings=client)
        with pytest.raises(FilterError):
            save_view("v", filter="metrics.auc >>= 1", settings=client)
        assert [v.name for v in list_views(settings=client)] == ["by-auc"]
        backend = Store.open(client.__class__(home=tmp_path / "server-home"))
        changes = [(e.action, e.actor) for e in audit.entries(backend, target="view:")]
        assert changes == [("view.deleted", "tester"), ("view.saved", "tester"),
                           ("view.saved", "tester"), ("view.saved", "tester")]
        (first,) = [e for e in audit.entries(backend, target="view:by-auc")
                    if e.before is None]
        assert first.after["experiment"] == "churn"


def test_the_server_refuses_a_bad_view_a_client_did_not_check(team: Team) -> None:
    with team.client("writer") as client:
        answer = client.put("/api/v1/views/v", json={"columns": ["nme"]})
    assert answer.status_code == 400 and "Unknown column `nme`" in answer.text
    assert list_views(settings=team.settings) == []


def test_readers_read_views_and_only_global_writers_change_them(team: Team) -> None:
    save_view("shared", experiment="alpha", settings=team.settings)
    save_view("theirs", experiment="other", settings=team.settings)
    reader = RemoteStore(team.url, team.tokens["reader"])
    other = RemoteStore(team.url, team.tokens["other"])
    try:
        assert [v.name for v in list_views(store=reader)] == ["shared", "theirs"]
        with pytest.raises(AccessDenied):
            save_view("mine", store=reader)
        with pytest.raises(AccessDenied):
            delete_view("shared", store=reader)
        # `other` sees only its experiment's views (and views of no experiment)
        assert [v.name for v in list_views(store=other)] == ["theirs"]
        with pytest.raises(NotFoundError):
            get_view("shared", store=other)
        with pytest.raises(AccessDenied):  # a writer of one experiment only
            save_view("theirs", experiment="other", store=other)
    finally:
        reader.close()
        other.close()
    store = Store.open(team.settings)
    accounts.set_grant(store, "reader", "experiment", "alpha", "writer")
    assert {v.name for v in list_views(settings=team.settings)} == {"shared", "theirs"}
