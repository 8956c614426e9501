"""Why a step run hit or missed the cache: ``lockgate pipelines explain-cache RUN STEP``.

The runner writes the reason of every decision to the ledger as it makes it (hit, miss
because a table it read has a newer version, cache off, resume re-ran a changed step);
for a miss this module also finds the nearest earlier run of the same step and lists
what changed in its key: code, a parameter, an input's content, a table version, a
library version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lockgate.errors import LockgateError, close_matches
from lockgate.pipelines.cache import explain_difference
from lockgate.pipelines.ledger import StepRow, step_history, steps_of
from lockgate.pipelines.runner import step_name
from lockgate.store import Store


@dataclass(frozen=True, slots=True)
class CacheExplanation:
    """One step run's cache decision, explained.

    Attributes:
        step: ``fit`` or ``fit[3]``.
        step_run_id: the step run.
        status: its status (CACHED when it hit).
        hit: whether earlier outputs were reused.
        reason: the decision as the runner recorded it.
        key: the cache key.
        parts: what the key is made of (None for runs recorded before lockgate kept it).
        reads: tables the step read with ``lg.data.read``, with the versions.
        compared_with: the earlier step run a miss is compared with (None: none found).
        changes: what differs from it, one sentence each.
    """

    step: str
    step_run_id: str
    status: str
    hit: bool
    reason: str
    key: str
    parts: dict[str, Any] | None
    reads: tuple[dict[str, Any], ...]
    compared_with: str | None
    changes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def explain_cache(store: Store, run_id: str, step: str) -> CacheExplanation:
    """Explain the cache decision of step ``step`` (``fit`` / ``fit[3]``) in a pipeline run.

    Raises:
        NotFoundError: no such run.
        LockgateError: the run is no pipeline run or has no such step.
    """
    run = store.get_run(run_id)
    if run.kind != "pipeline":
        raise LockgateError(f"Run {run.id} is a {run.kind!r} run; give its pipeline run "
                            f"({run.parent_id or 'none'}) and the step's name.")
    rows = {step_name(r.node, r.item): r for r in steps_of(store, run.id)}
    if step not in rows:
        raise LockgateError(f"Pipeline run {run.id} has no step `{step}`."
                            + close_matches(step, rows) + f" Steps: {', '.join(rows)}.")
    row = rows[step]
    hit = row.status == "CACHED"
    earlier = None if hit else _nearest_earlier(store, row, run.name)
    changes: tuple[str, ...] = ()
    if earlier is not None and earlier.key_parts and row.key_parts:
        changes = tuple(explain_difference(earlier.key_parts, row.key_parts))
    reason = row.cache_reason or ("recorded before lockgate explained cache decisions"
                                  if row.status != "SKIPPED" else "skipped: upstream failed")
    return CacheExplanation(step, row.step_run_id, row.status, hit, reason, row.cache_key,
                            row.key_parts, row.reads, None if earlier is None
                            else earlier.step_run_id, changes)


def _nearest_earlier(store: Store, row: StepRow, pipeline: str) -> StepRow | None:
    """The latest earlier run of the same step (same fan-out item when there is one)."""
    candidates = [r for r in step_history(store, row.node, row.created_at, pipeline)
                  if r.item == row.item and r.status in ("FINISHED", "CACHED")]
    return candidates[0] if candidates else None
