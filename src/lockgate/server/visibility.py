"""What a user limited to its grants may see, for the listing and lookup routes whose
rule is "a reader of anything" (``Access("reader", "any")``).

A user whose global role is reader or better sees everything and these helpers change
nothing for it. A user with global role ``none`` sees the runs, metrics, artifacts and
lineage of the experiments its grants name, and nothing else: lists leave the rest out,
lookups of the rest answer 404 exactly as for something that does not exist, and an
"unknown experiment" message suggests only names it may see.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa

from lockgate.errors import NotFoundError, close_matches
from lockgate.security.accounts import Principal
from lockgate.store import Store
from lockgate.store import schema as t


def experiments(principal: Principal, store: Store) -> list[str] | None:
    """The experiment names ``principal`` may read (None: all)."""
    visible = principal.visible("experiment")
    if visible is None:
        return None
    return [name for name in store.experiments() if name in visible]


def chosen(principal: Principal, store: Store, names: Sequence[str]) -> list[str] | None:
    """The experiments a listing covers: ``names`` if given (each must be visible, else
    the same NotFoundError as an unknown one), else every visible one (None: all).

    Raises:
        NotFoundError: a name the user may not see, or that does not exist.
    """
    visible = experiments(principal, store)
    if visible is None:
        return list(names) or None
    for name in names:
        if name not in visible:
            raise NotFoundError(f"No experiment `{name}`." + close_matches(name, visible))
    return list(names) or visible


def run_experiments(store: Store, run_ids: Iterable[str]) -> dict[str, str]:
    """The experiment of each existing run among ``run_ids`` (one query)."""
    ids = list(dict.fromkeys(run_ids))
    if not ids:
        return {}
    query = (sa.select(t.runs.c.id, t.experiments.c.name)
             .join(t.experiments, t.experiments.c.id == t.runs.c.experiment_id)
             .where(t.runs.c.id.in_(ids)))
    with store.read() as conn:
        return {str(row.id): str(row.name) for row in conn.execute(query)}


def visible_runs(principal: Principal, store: Store, run_ids: Iterable[str]) -> set[str]:
    """The runs among ``run_ids`` that ``principal`` may read."""
    ids = set(run_ids)
    if principal.visible("experiment") is None:
        return ids
    return {run for run, name in run_experiments(store, ids).items()
            if principal.sees("experiment", name)}


def count_runs(store: Store, within: Sequence[str]) -> int:
    """Live runs of these experiments."""
    from lockgate.store.repository import live_run

    query = (sa.select(sa.func.count()).select_from(t.runs)
             .join(t.experiments, t.experiments.c.id == t.runs.c.experiment_id)
             .where(live_run(), t.experiments.c.name.in_(list(within))))
    with store.read() as conn:
        return int(conn.execute(query).scalar_one())


def blob_visible(principal: Principal, store: Store, sha256: str) -> bool:
    """Whether ``principal`` may read the blob ``sha256``: some artifact of a run of a
    visible experiment holds it (content addresses are not secrets a scoped user may
    use to read other teams' bytes)."""
    visible = principal.visible("experiment")
    if visible is None:
        return True
    query = (sa.select(t.artifacts.c.id)
             .join(t.runs, t.runs.c.id == t.artifacts.c.run_id)
             .join(t.experiments, t.experiments.c.id == t.runs.c.experiment_id)
             .where(t.artifacts.c.sha256 == sha256, t.experiments.c.name.in_(list(visible)))
             .limit(1))
    with store.read() as conn:
        return conn.execute(query).first() is not None
