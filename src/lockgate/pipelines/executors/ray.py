"""The Ray executor: each step attempt is a Ray task with the resources the step
declared (``@step(cpus=2, gpus=1, resources={...})``).

Values never travel through Ray's object store: a task receives artifact records and
returns artifact records, exactly as on the local executor, so lineage and caching
do not depend on where a step ran. Workers must see the same artifact root and
metadata store (a shared file system or object storage, and PostgreSQL) and the step
modules' files; on a single machine that holds by construction.

Ray is an optional extra (``pip install lockgate[ray]``) and is imported only here.
"""

from __future__ import annotations

import time
from typing import Any

from lockgate.errors import ConfigError
from lockgate.pipelines.executors.base import died_outcome, timeout_outcome
from lockgate.pipelines.task import StepOutcome, StepTask
from lockgate.pipelines.worker import execute_task


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(
            "The Ray executor needs Ray: `pip install 'lockgate[ray]'`, or use "
            "`--executor local`."
        ) from exc
    return ray


class RayExecutor:
    """Step attempts as Ray tasks.

    Args:
        address: Ray cluster address (``auto``, ``ray://host:10001``); None starts a
            local cluster unless Ray is already initialised in this process.
    """

    name = "ray"

    def __init__(self, address: str | None = None) -> None:
        ray = _ray()
        self._ray = ray
        self._owns = False
        if not ray.is_initialized():
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=True)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ConfigError(
                    f"Cannot connect to the Ray cluster at {address or 'a new local cluster'}: "
                    f"{exc}. Check `--address` (e.g. `auto` or `ray://host:10001`)."
                ) from exc
            self._owns = True
        self._remote = ray.remote(max_retries=0)(execute_task)
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
        if self._owns:
            self._ray.shutdown()

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
