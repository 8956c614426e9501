"""Pipeline runs as plain data for the CLI and the dashboard: the list of pipeline runs
and one run's tree of steps (status, duration, cached, attempts, error)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from lockgate.errors import LockgateError
from lockgate.pipelines.ledger import steps_of
from lockgate.store import RunRecord, Store
from lockgate.store import schema as t
from lockgate.store.repository import run_record, run_select


def pipeline_runs(store: Store, *, limit: int = 20, experiment: str | None = None
                  ) -> list[dict[str, Any]]:
    """The newest pipeline runs with their step counts by status."""
    runs = store.list_runs(kind="pipeline", limit=limit, experiment=experiment)
    counts: dict[str, Counter[str]] = {run.id: Counter() for run in runs}
    if runs:  # every listed run's steps in one query, statuses decided by liveness
        query = run_select().where(t.runs.c.parent_id.in_(list(counts)))
        with store.read() as conn:
            for row in conn.execute(query):
                child = run_record(row)
                counts[str(child.parent_id)][child.status] += 1
    return [_run_json(run) | {"steps": dict(counts[run.id])} for run in runs]


def pipeline_tree(store: Store, run_id: str) -> dict[str, Any]:
    """One pipeline run and its step runs in start order.

    Raises:
        NotFoundError: no such run.
        LockgateError: the run is not a pipeline run.
    """
    run = store.get_run(run_id)
    if run.kind != "pipeline":
        hint = f" It belongs to pipeline run {run.parent_id}." if run.parent_id else ""
        raise LockgateError(f"Run {run.id} is a {run.kind!r} run, not a pipeline run.{hint}")
    ledger = {row.step_run_id: row for row in steps_of(store, run.id)}
    children = sorted(store.list_runs(parent_id=run.id, limit=None),
                      key=lambda r: (r.start_time, r.name))
    steps = []
    for child in children:
        row = ledger.get(child.id)
        steps.append(_run_json(child) | {
            "cached": child.status == "CACHED",
            "attempts": row.attempts if row else None,
            "cache_key": row.cache_key if row and row.cache_key else None,
            "reused_from": row.reused_from if row else None,
            "error_summary": last_line(child.error),
        })
    tags = store.tags(run.id)
    return {
        "run": _run_json(run) | {"error_summary": last_line(run.error)},
        "params": store.params(run.id),
        "tags": tags,
        "steps": steps,
    }


def _run_json(run: RunRecord) -> dict[str, Any]:
    return {
        "id": run.id, "name": run.name, "experiment": run.experiment, "status": run.status,
        "start_time": run.start_time, "end_time": run.end_time, "duration": run.duration,
        "error": run.error,
    }


def last_line(text: str | None) -> str | None:
    """The last non-blank line of an error (the exception line of a traceback)."""
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else None
