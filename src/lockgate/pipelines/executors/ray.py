"""The Ray executor: each step attempt is a Ray task with the resources the step
declared (``@step(cpus=2, gpus=1, resources={...})``).

Step values never travel through Ray's object store: a task receives artifact records
and returns artifact records, exactly as on the local executor, so lineage and caching
do not depend on where a step ran. Workers must see the same artifact root and
metadata store and the step modules' code: with ``s3://`` artifact and data roots and
PostgreSQL, nodes share nothing else (no file system, no ``LOCKGATE_HOME``); each node
reads the object store's endpoint and credentials from its own AWS environment.

:meth:`RayExecutor.map` runs plain functions (cross-validation folds) on the same
cluster, sending the shared arguments once through Ray's object store.

Ray is joined or started in one place, :mod:`lockgate.pipelines.executors.ray_cluster`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from lockgate.pipelines.errors import PipelineError
from lockgate.pipelines.executors import ray_cluster
from lockgate.pipelines.executors.base import R, T, died_outcome, timeout_outcome
from lockgate.pipelines.task import StepOutcome, StepTask
from lockgate.pipelines.worker import execute_task


class RayExecutor:
    """Step attempts as Ray tasks.

    Args:
        address: Ray cluster address (``auto``, ``ray://host:10001``); None starts a
            local cluster unless Ray is already initialised in this process.
    """

    name = "ray"

    def __init__(self, address: str | None = None) -> None:
        self._ray = ray_cluster.ray_module()
        self._owns = ray_cluster.connect(address)
        self._remote = self._ray.remote(max_retries=0)(execute_task)
        self._running: dict[Any, tuple[StepTask, float]] = {}

    def submit(self, task: StepTask) -> None:
        """Start the attempt as a Ray task with the step's resources."""
        options: dict[str, Any] = {"num_cpus": task.cpus, "num_gpus": task.gpus}
        if task.resources:
            options["resources"] = dict(task.resources)
        ref = self._remote.options(**options).remote(task)
        self._running[ref] = (task, time.monotonic())

    def poll(self, timeout: float) -> list[StepOutcome]:
        """Finished attempts; attempts past their timeout are cancelled (worker killed)."""
        if not self._running:
            if timeout > 0:
                time.sleep(timeout)
            return []
        refs = list(self._running)
        wait_for = max(0.0, min([timeout, *(self._time_left(r) for r in refs)]))
        ready, _ = self._ray.wait(refs, num_returns=1, timeout=wait_for)
        if ready:
            rest = [r for r in refs if r not in ready]
            more, _ = self._ray.wait(rest, num_returns=len(rest), timeout=0) if rest else ([], [])
            ready = list(ready) + list(more)
        outcomes = [self._collect(ref) for ref in ready]
        for ref in list(self._running):
            if self._time_left(ref) <= 0:
                task, _ = self._running.pop(ref)
                self._ray.cancel(ref, force=True)
                outcomes.append(timeout_outcome(task))
        return outcomes

    def close(self) -> None:
        """Cancel running attempts; shut Ray down if this executor started it."""
        for ref in list(self._running):
            self._ray.cancel(ref, force=True)
        self._running.clear()
        ray_cluster.disconnect(self._owns)
        self._owns = False

    def map(self, func: Callable[..., R], items: Sequence[T], *, shared: tuple[Any, ...] = (),
            progress: Callable[[R], None] | None = None) -> list[R]:
        """``func(item, *shared)`` for every item as Ray tasks (one CPU each); ``shared``
        is put into Ray's object store once. Results come back in item order.

        Raises:
            PipelineError: a task failed on the cluster (its exception is the cause).
        """
        ray = self._ray
        remote = ray.remote(num_cpus=1, max_retries=0)(func)
        refs_shared = [ray.put(value) for value in shared]
        refs = [remote.remote(item, *refs_shared) for item in items]
        results: dict[Any, R] = {}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            try:
                results[done[0]] = ray.get(done[0])
            except ray.exceptions.RayTaskError as exc:
                raise PipelineError(f"A task of `{getattr(func, '__name__', func)}` failed "
                                    f"on Ray: {exc.cause!r}") from exc
            if progress is not None:
                progress(results[done[0]])
        return [results[r] for r in refs]

    def _time_left(self, ref: Any) -> float:
        task, started = self._running[ref]
        if task.timeout is None:
            return float("inf")
        return task.timeout - (time.monotonic() - started)

    def _collect(self, ref: Any) -> StepOutcome:
        task, _ = self._running.pop(ref)
        try:
            outcome: StepOutcome = self._ray.get(ref)
        except Exception as exc:  # the worker died or Ray failed the task
            return died_outcome(task, f"{type(exc).__name__}: Ray task of step `{task.key}` "
                                      f"failed: {exc}")
        return outcome
