"""Deleting runs: soft delete (hidden, restorable), restore, and the purge ``lockgate gc``
performs once a deleted run's grace period is over.

A run that trained a registered model version, or that a version depends on through
lineage, cannot be deleted: the refusal names the version. Deleting a run deletes its
descendants (a pipeline's steps) with it; restoring brings them back together.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

import sqlalchemy as sa

from lockgate.config import Settings, load_settings
from lockgate.errors import LockgateError
from lockgate.retention.protection import Protection, protection
from lockgate.store import RunRecord, Store, audit
from lockgate.store import schema as t
from lockgate.store import tables_pipelines as tp
from lockgate.store import tables_ui as tu


class RunDeletionError(LockgateError, ValueError):
    """A run cannot be deleted (lineage keeps it, or it is still running)."""

    headline = "Run not deleted"

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        numbered = "\n".join(f"  {i}. {p}" for i, p in enumerate(self.problems, 1))
        super().__init__(f"Refusing to delete {len(self.problems)} run(s); nothing was "
                         f"deleted:\n{numbered}")


def delete_runs(run_ids: Iterable[str], *, settings: Settings | None = None,
                store: Store | None = None) -> list[RunRecord]:
    """Soft-delete runs (any unique id prefix) and their descendants.

    Deleted runs disappear from ``runs list``, ``search_runs`` and the dashboard, stay
    readable by id (``runs show``), and are purged by ``lockgate gc`` once
    ``run_purge_days`` have passed; ``restore_runs`` brings them back before that.

    Returns:
        The runs deleted now (runs already deleted are left as they were).

    Raises:
        NotFoundError: an id matches no run (or several).
        RunDeletionError: a run trained a registered model version, a version depends on
            it through lineage, or it is still running; names each and what keeps it.
    """
    store = store or Store.open(settings or load_settings())
    if getattr(store, "remote", False):  # behind `lockgate server`: it checks and audits
        return store.change_runs("delete", list(run_ids))  # type: ignore[attr-defined]
    roots = [store.resolve_run_id(run_id) for run_id in run_ids]
    chosen = descendants(store, roots)
    problems = _refusals(store, roots, chosen, protection(store))
    if problems:
        raise RunDeletionError(problems)
    now = time.time()
    with store.write() as conn:
        todo = [r for r in conn.execute(sa.select(t.runs.c.id).where(
            t.runs.c.id.in_(chosen), t.runs.c.deleted_at.is_(None))).scalars()]
        conn.execute(sa.update(t.runs).where(t.runs.c.id.in_(todo)).values(deleted_at=now))
        audit.record_many(store, "deleted", [(f"run:{run_id}", {"deleted_at": None},
                                              {"deleted_at": now}) for run_id in todo],
                          conn=conn)
    return [store.get_run(run_id) for run_id in todo]


def restore_runs(run_ids: Iterable[str], *, settings: Settings | None = None,
                 store: Store | None = None) -> list[RunRecord]:
    """Undo :func:`delete_runs`: the runs, their descendants deleted with them, and any
    deleted ancestor (a step is restored with its pipeline run).

    Returns:
        The runs restored now (live runs are left as they were).

    Raises:
        NotFoundError: an id matches no run: never created, or purged already.
    """
    store = store or Store.open(settings or load_settings())
    if getattr(store, "remote", False):
        return store.change_runs("restore", list(run_ids))  # type: ignore[attr-defined]
    roots = [store.resolve_run_id(run_id) for run_id in run_ids]
    chosen = set(descendants(store, roots)) | ancestors(store, roots)
    with store.write() as conn:
        todo = dict(conn.execute(sa.select(t.runs.c.id, t.runs.c.deleted_at).where(
            t.runs.c.id.in_(chosen), t.runs.c.deleted_at.is_not(None))).all())
        conn.execute(sa.update(t.runs).where(t.runs.c.id.in_(list(todo))).values(
            deleted_at=None))
        audit.record_many(store, "restored", [
            (f"run:{run_id}", {"deleted_at": deleted_at}, {"deleted_at": None})
            for run_id, deleted_at in todo.items()], conn=conn)
    return [store.get_run(run_id) for run_id in todo]


def deleted_runs(store: Store, *, before: float | None = None) -> list[RunRecord]:
    """Soft-deleted runs (deleted before ``before`` when given), oldest deletion first."""
    from lockgate.store.repository import run_record, run_select

    query = run_select(include_deleted=True).where(t.runs.c.deleted_at.is_not(None))
    if before is not None:
        query = query.where(t.runs.c.deleted_at < before)
    with store.read() as conn:
        rows = conn.execute(query.order_by(t.runs.c.deleted_at, t.runs.c.id)).all()
    return [run_record(row) for row in rows]


def descendants(store: Store, roots: Sequence[str]) -> list[str]:
    """``roots`` and every run below them (children, their children...), roots first."""
    out, frontier = list(dict.fromkeys(roots)), list(dict.fromkeys(roots))
    seen = set(out)
    with store.read() as conn:
        while frontier:
            children = [c for c in conn.execute(sa.select(t.runs.c.id).where(
                t.runs.c.parent_id.in_(frontier))).scalars() if c not in seen]
            seen.update(children)
            out.extend(children)
            frontier = children
    return out


def ancestors(store: Store, roots: Sequence[str]) -> set[str]:
    """Every run above ``roots`` (parent, grandparent...)."""
    found: set[str] = set()
    frontier = set(roots)
    with store.read() as conn:
        while frontier:
            parents = {p for p in conn.execute(sa.select(t.runs.c.parent_id).where(
                t.runs.c.id.in_(frontier), t.runs.c.parent_id.is_not(None))).scalars()}
            frontier = parents - found
            found |= parents
    return found


def purge_runs(store: Store, run_ids: Sequence[str]) -> int:
    """Delete runs and everything that hangs off them, in one transaction.

    The caller (``lockgate gc``) has checked that nothing live still refers to them.
    Dataset versions a run ingested stay (the data is not the run's); they only forget
    the run. Blobs are left to the sweep that follows, which deletes the unreferenced.

    Returns:
        How many runs were purged.
    """
    ids = list(run_ids)
    if not ids:
        return 0
    owned = sa.select(t.artifacts.c.id).where(t.artifacts.c.run_id.in_(ids))
    with store.write() as conn:
        gone = conn.execute(sa.select(t.runs.c.id, t.runs.c.name, t.runs.c.deleted_at,
                                      t.experiments.c.name.label("experiment"))
                            .join(t.experiments, t.experiments.c.id == t.runs.c.experiment_id)
                            .where(t.runs.c.id.in_(ids))).all()
        audit.record_many(store, "purged", [
            (f"run:{r.id}", {"name": r.name, "experiment": r.experiment,
                             "deleted_at": r.deleted_at}, None) for r in gone], conn=conn)
        conn.execute(sa.update(t.dataset_versions).where(t.dataset_versions.c.run_id.in_(ids))
                     .values(run_id=None))
        conn.execute(sa.delete(tp.pipeline_steps).where(sa.or_(
            tp.pipeline_steps.c.step_run_id.in_(ids),
            tp.pipeline_steps.c.pipeline_run_id.in_(ids))))
        conn.execute(sa.delete(t.lineage).where(sa.or_(
            t.lineage.c.run_id.in_(ids), t.lineage.c.artifact_id.in_(owned))))
        # Points go with their series (a point has no foreign key, see schema.metrics).
        # PostgreSQL: lock the series, then the runs, each in a statement of its own and
        # before any delete. A writer holding a series, or (opening a new series) its
        # run's key-share lock, commits its points before the deletes below take their
        # snapshots; one arriving later waits here and then finds its run gone. The
        # order is the writers' own (series, then run), so the two never deadlock.
        series = sa.select(t.metric_series.c.id).where(t.metric_series.c.run_id.in_(ids))
        if store.dialect == "postgresql":
            conn.execute(series.order_by(t.metric_series.c.id).with_for_update()).all()
            conn.execute(sa.select(t.runs.c.id).where(t.runs.c.id.in_(ids))
                         .order_by(t.runs.c.id).with_for_update()).all()
        conn.execute(sa.delete(t.metrics).where(t.metrics.c.series_id.in_(series)))
        for table in (t.params, t.metric_series, t.latest_metrics, t.tags, t.notes,
                      t.console_logs, t.hardware_samples, t.code_versions, t.environments,
                      tu.ui_last_metrics):
            conn.execute(sa.delete(table).where(table.c.run_id.in_(ids)))
        conn.execute(sa.delete(t.artifacts).where(t.artifacts.c.run_id.in_(ids)))
        # children before parents: the parent_id foreign key
        remaining = set(ids)
        while remaining:
            leaves = remaining - set(conn.execute(sa.select(t.runs.c.parent_id).where(
                t.runs.c.parent_id.in_(remaining))).scalars())
            if not leaves:  # a cycle cannot happen through the API; break it anyway
                conn.execute(sa.update(t.runs).where(t.runs.c.id.in_(remaining))
                             .values(parent_id=None))
                leaves = remaining
            conn.execute(sa.delete(t.runs).where(t.runs.c.id.in_(leaves)))
            remaining -= leaves
    return len(ids)


def _refusals(store: Store, roots: Sequence[str], chosen: Sequence[str],
              protected: Protection) -> list[str]:
    from lockgate.store.repository import run_record, run_select

    with store.read() as conn:
        records = {r.id: r for r in map(run_record, conn.execute(
            run_select(include_deleted=True).where(t.runs.c.id.in_(list(chosen)))))}
    problems = []
    for run_id in chosen:
        run = records[run_id]
        via = "" if run_id in roots else f" (a descendant of {_root_of(store, run_id, roots)})"
        label = f"run {run_id} (`{run.name}`){via}"
        trained = protected.trained({run_id})
        if trained:
            names = ", ".join(m.label for m in trained)
            problems.append(
                f"{label} trained the registered model version(s) {names}: a registered "
                "version keeps the run it was trained by. Nothing can delete it while the "
                "version is registered.")
        elif run_id in protected.runs:
            problems.append(f"{label} is kept by lineage: {protected.runs[run_id]}.")
        elif run.status == "RUNNING":
            problems.append(f"{label} is still running (pid {run.pid} on {run.host}); stop "
                            "it, or wait until it ends.")
    return problems


def _root_of(store: Store, run_id: str, roots: Sequence[str]) -> str:
    above = ancestors(store, [run_id])
    return next((r for r in roots if r in above), roots[0])[:16]
