"""The step a worker is running now: who it is (for idempotent side effects), which
table versions its run pinned, and which tables it read.

A step function reaches it with ``lg.current_step()``; ``lg.data.read`` reports its
reads here (the data stage calls :func:`record_read`), so a read inside a step body is
a lineage edge and part of the cache's validity like a declared input. One step runs
per worker process at a time, so the context is process-wide (threads the step starts
see it too).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from lockgate.pipelines.errors import PipelineError


@dataclass(frozen=True, slots=True)
class TableRead:
    """A table version a step read.

    Attributes:
        table: the table's name.
        version: the version read.
        latest: True when the step asked for the newest version (no version given), so
            a newer version makes a cached result stale; False for a pinned version.
    """

    table: str
    version: int
    latest: bool

    def to_dict(self) -> dict[str, object]:
        return {"table": self.table, "version": self.version, "latest": self.latest}


@dataclass(frozen=True, slots=True)
class StepContext:
    """The running step, as the step function sees it.

    Attributes:
        pipeline_run_id: the pipeline run.
        step_run_id: this step run (the same for every attempt).
        step: the node's name.
        item: the index in a fan-out, else None.
        attempt: 1 for the first attempt.
        tables: ``{table: version}`` the run pinned for this step's declared inputs.
    """

    pipeline_run_id: str
    step_run_id: str
    step: str
    item: int | None
    attempt: int
    tables: Mapping[str, int] = field(default_factory=dict)
    reads: list[TableRead] = field(default_factory=list)

    @property
    def idempotency_key(self) -> str:
        """``pipeline run id/step[/item]``: the same on every attempt of this step run, so
        an external write keyed by it (an upsert, a payment id, an object name) happens
        once even when the step is retried."""
        base = f"{self.pipeline_run_id}/{self.step}"
        return base if self.item is None else f"{base}/{self.item}"


_LOCK = threading.Lock()
_CURRENT: list[StepContext] = []


def current_step() -> StepContext:
    """The step running in this process.

    Raises:
        PipelineError: called outside a pipeline step (e.g. in a unit test calling the
            function directly).
    """
    with _LOCK:
        if not _CURRENT:
            raise PipelineError(
                "lg.current_step() is only available while a pipeline step runs; in a unit "
                "test, call the function with the values it needs instead.")
        return _CURRENT[-1]


def running_step() -> StepContext | None:
    """The running step, or None outside one."""
    with _LOCK:
        return _CURRENT[-1] if _CURRENT else None


def enter(context: StepContext) -> None:
    with _LOCK:
        _CURRENT.append(context)


def leave(context: StepContext) -> None:
    with _LOCK:
        if context in _CURRENT:
            _CURRENT.remove(context)


def pinned_version(table: str) -> int | None:
    """The version the running step's run pinned for ``table`` (None: not declared)."""
    context = running_step()
    return None if context is None else context.tables.get(table)


def record_read(table: str, version: int, *, latest: bool) -> None:
    """Note that the running step read ``table@version`` (nothing outside a step)."""
    context = running_step()
    if context is None:
        return
    read = TableRead(table, version, latest)
    with _LOCK:
        if read not in context.reads:
            context.reads.append(read)
