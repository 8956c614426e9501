"""Saved views of the runs table: a named choice of columns, sort order and filter, kept
in the metadata store so everyone using that store sees the same views (the
dashboard's "views" menu, ``lockgate runs list --view NAME``).

    save_view("by-auc", columns=["name", "metrics.roc_auc", "params.max_depth"],
              sort="metrics.roc_auc", filter="metrics.roc_auc >= 0.9", experiment="churn")
    get_view("by-auc").columns

Why in the store and not the browser: a view chosen once serves the whole team and
the command line alike. Views are keyed by ``(owner, name)``; ``owner=""`` is the view
shared by everyone, the only kind today (a per-user view needs no migration).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from lockgate.config import Settings, load_settings
from lockgate.errors import LockgateError, NotFoundError, close_matches
from lockgate.store import Store, audit
from lockgate.store.run_filter import parse_filter
from lockgate.store.tables_ui import runs_views as t

#: Run columns a view can show (besides ``metrics.<key>`` and ``params.<key>``).
RUN_COLUMNS = ("id", "experiment", "name", "status", "started", "duration", "kind", "parent")
#: Run fields a view can sort by (besides ``metrics.<key>`` and ``params.<key>``): the
#: ones both the dashboard and ``runs list`` order by.
SORT_FIELDS = ("start_time", "name", "status", "experiment")
SHARED = ""
_NAME = re.compile(r"^[A-Za-z0-9][\w.\-]{0,99}$")
MAX_COLUMNS = 100


class ViewError(LockgateError, ValueError):
    """A view's name, columns, sort or filter cannot be saved as given."""


@dataclass(frozen=True, slots=True)
class SavedView:
    """One saved view; ``columns == ()`` means the table's default columns."""

    name: str
    columns: tuple[str, ...] = ()
    sort: str = "start_time"
    descending: bool = True
    filter: str = ""
    experiment: str | None = None
    owner: str = SHARED
    updated_at: float = 0.0

    def __repr__(self) -> str:
        order = f"{self.sort} {'DESC' if self.descending else 'ASC'}"
        return (f"SavedView({self.name!r}: columns {list(self.columns) or 'default'}, "
                f"order {order}, filter {self.filter or '(none)'!r}, experiment "
                f"{self.experiment or 'any'})")


def save_view(name: str, *, columns: Sequence[str] = (), sort: str = "start_time",
              descending: bool = True, filter: str = "", experiment: str | None = None,
              settings: Settings | None = None, store: Store | None = None) -> SavedView:
    """Create or replace the shared view ``name``; everything is checked before writing.

    Raises:
        ViewError: a bad name, an unknown column or sort field.
        FilterError: the filter is not valid in the runs filter language.
    """
    view = SavedView(name, tuple(c.strip() for c in columns if c.strip()), sort.strip(),
                     descending, filter.strip(), experiment or None, SHARED, time.time())
    check_view(view)
    store = store or Store.open(settings or load_settings())
    if getattr(store, "remote", False):  # behind `lockgate server`: it checks and audits
        return _view(store.put_view(view_dict(view)))  # type: ignore[attr-defined]
    row = {"columns": json.dumps(list(view.columns)), "sort": view.sort,
           "descending": view.descending, "filter": view.filter,
           "experiment": view.experiment, "updated_at": view.updated_at}
    key = (t.c.owner == view.owner) & (t.c.name == view.name)
    with store.write() as conn:
        before = conn.execute(sa.select(t).where(key)).mappings().first()
        if before is None:
            conn.execute(t.insert().values(owner=view.owner, name=view.name, **row))
        else:
            conn.execute(t.update().where(key).values(**row))
        audit.record(store, "view.saved", f"view:{view.name}", conn=conn,
                     before=None if before is None else view_dict(_view(before)),
                     after=view_dict(view))
    return view


def get_view(name: str, *, settings: Settings | None = None,
             store: Store | None = None) -> SavedView:
    """The shared view ``name``.

    Raises:
        NotFoundError: no such view (the message lists close matches and how to save one).
    """
    store = store or Store.open(settings or load_settings())
    if getattr(store, "remote", False):
        return _view(store.view(name))  # type: ignore[attr-defined]
    with store.read() as conn:
        row = conn.execute(sa.select(t).where((t.c.owner == SHARED) & (t.c.name == name))
                           ).mappings().first()
    if row is None:
        names = [v.name for v in list_views(store=store)]
        raise NotFoundError(
            f"No saved view `{name}`." + close_matches(name, names)
            + (f" Saved views: {', '.join(names)}." if names else "")
            + " Save one with `lockgate runs view save NAME --columns ... --sort ...`.")
    return _view(row)


def list_views(*, settings: Settings | None = None,
               store: Store | None = None) -> list[SavedView]:
    """Every shared view, by name."""
    store = store or Store.open(settings or load_settings())
    if getattr(store, "remote", False):
        return [_view(found) for found in store.views()]  # type: ignore[attr-defined]
    with store.read() as conn:
        rows = conn.execute(sa.select(t).where(t.c.owner == SHARED).order_by(t.c.name)
                            ).mappings().all()
    return [_view(r) for r in rows]


def delete_view(name: str, *, settings: Settings | None = None,
                store: Store | None = None) -> None:
    """Remove the shared view ``name``.

    Raises:
        NotFoundError: no such view.
    """
    store = store or Store.open(settings or load_settings())
    if getattr(store, "remote", False):
        store.remove_view(name)  # type: ignore[attr-defined]
        return
    before = get_view(name, store=store)
    with store.write() as conn:
        conn.execute(t.delete().where((t.c.owner == SHARED) & (t.c.name == name)))
        audit.record(store, "view.deleted", f"view:{name}", conn=conn,
                     before=view_dict(before))


def view_dict(view: SavedView) -> dict[str, object]:
    """A view as plain JSON-able data (the server's wire form, the audit log)."""
    return {"name": view.name, "columns": list(view.columns), "sort": view.sort,
            "descending": view.descending, "filter": view.filter,
            "experiment": view.experiment, "owner": view.owner,
            "updated_at": view.updated_at}


def check_view(view: SavedView) -> None:
    """Refuse what no table could show, naming the part and the fix."""
    if not _NAME.match(view.name):
        raise ViewError(f"View name `{view.name[:120]}`: use 1-100 letters, digits, `_`, "
                        "`-` or `.`, starting with a letter or digit.")
    if len(view.columns) > MAX_COLUMNS:
        raise ViewError(f"A view shows at most {MAX_COLUMNS} columns; got "
                        f"{len(view.columns)}.")
    for column in view.columns:
        if column not in RUN_COLUMNS and not _scoped(column):
            raise ViewError(f"Unknown column `{column}` in view `{view.name}`; use "
                            f"{', '.join(RUN_COLUMNS)}, metrics.<key> or params.<key>."
                            + close_matches(column, RUN_COLUMNS))
    if view.sort not in SORT_FIELDS and not _scoped(view.sort):
        raise ViewError(f"Cannot sort view `{view.name}` by `{view.sort}`; use "
                        f"{', '.join(SORT_FIELDS)}, metrics.<key> or params.<key>."
                        + close_matches(view.sort, SORT_FIELDS))
    parse_filter(view.filter)  # FilterError points at the position


def _scoped(field: str) -> bool:
    scope, dot, key = field.partition(".")
    return bool(dot and key) and scope in ("metrics", "params")


def _view(row: Mapping[str, Any] | sa.RowMapping) -> SavedView:
    columns = row["columns"]
    return SavedView(row["name"], tuple(json.loads(columns) if isinstance(columns, str)
                                        else columns), row["sort"],
                     bool(row["descending"]), row["filter"], row["experiment"], row["owner"],
                     float(row["updated_at"]))
