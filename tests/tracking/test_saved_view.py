"""Saved views of the runs table live in the metadata store, shared by everyone using
it (the dashboard and `lockgate runs list --view`), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from lockgate.errors import NotFoundError
from lockgate.store import Store
from lockgate.store.run_filter import FilterError
from lockgate.tracking import SavedView, delete_view, get_view, list_views, save_view
from lockgate.tracking.saved_view import ViewError


def test_a_view_is_saved_read_replaced_and_deleted(any_settings) -> None:
    saved = save_view("by-auc", columns=["name", "metrics.auc", " params.lr "],
                      sort="metrics.auc", filter="metrics.auc >= 0.8", experiment="churn",
                      settings=any_settings)
    assert isinstance(saved, SavedView)
    # read back through a fresh handle on the same store: nothing lives in the process
    Store.close_all()
    found = get_view("by-auc", settings=any_settings)
    assert found.columns == ("name", "metrics.auc", "params.lr")
    assert (found.sort, found.descending, found.filter, found.experiment, found.owner) == (
        "metrics.auc", True, "metrics.auc >= 0.8", "churn", "")
    save_view("by-auc", columns=["metrics.loss"], sort="metrics.loss", descending=False,
              settings=any_settings)
    replaced = get_view("by-auc", settings=any_settings)
    assert replaced.columns == ("metrics.loss",) and not replaced.descending
    assert replaced.experiment is None and replaced.filter == ""
    save_view("all", settings=any_settings)
    assert [v.name for v in list_views(settings=any_settings)] == ["all", "by-auc"]
    delete_view("all", settings=any_settings)
    with pytest.raises(NotFoundError, match=r"No saved view `by-acu`. Did you mean `by-auc`"):
        get_view("by-acu", settings=any_settings)
    with pytest.raises(NotFoundError, match="No saved view `all`"):
        delete_view("all", settings=any_settings)


@pytest.mark.parametrize(("given", "match"), [
    ({"name": "../x"}, "View name `../x`: use 1-100 letters"),
    ({"name": "v", "columns": ["nme"]}, r"Unknown column `nme` .*Did you mean `name`"),
    ({"name": "v", "columns": ["metrics."]}, "Unknown column `metrics.`"),
    ({"name": "v", "sort": "duraton"}, "Cannot sort view `v` by `duraton`"),
])
def test_bad_views_are_refused_before_anything_is_written(any_settings, given, match) -> None:
    settings = any_settings
    with pytest.raises(ViewError, match=match):
        save_view(settings=settings, **given)
    with pytest.raises(FilterError):
        save_view("v", filter="metrics.auc >>= 1", settings=settings)
    assert list_views(settings=settings) == []
