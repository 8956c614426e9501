"""The executor protocol, one for everything lockgate runs elsewhere: pipeline step
attempts (``submit``/``poll``, with timeouts) and plain functions over many items, such
as cross-validation folds (``map``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from lockgate.pipelines.task import StepOutcome, StepTask

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    """Runs step attempts somewhere else than the runner's thread.

    An executor owns timeouts: an attempt running longer than ``task.timeout`` is
    killed (its worker, never the caller) and reported as a failed outcome.
    """

    name: str

    def submit(self, task: StepTask) -> None:
        """Queue an attempt; it starts when capacity allows."""
        ...

    def poll(self, timeout: float) -> list[StepOutcome]:
        """Outcomes that arrived within ``timeout`` seconds (possibly none)."""
        ...

    def close(self) -> None:
        """Stop every worker this executor started (running attempts are killed)."""
        ...

    def map(self, func: Callable[..., R], items: Sequence[T], *, shared: tuple[Any, ...] = (),
            progress: Callable[[R], None] | None = None) -> list[R]:
        """``func(item, *shared)`` for every item, results in item order; ``progress``
        is called with each result as it arrives. ``func`` must be importable (a
        module-level function) and its arguments picklable for remote executors."""
        ...


def timeout_outcome(task: StepTask) -> StepOutcome:
    """The outcome of an attempt killed for running past its timeout: TIMED_OUT, and
    retried when the step's policy retries a ``TimeoutError`` (the runner decides)."""
    return StepOutcome(
        task.key, False,
        error=f"TimeoutError: step `{task.key}` ran longer than its timeout of "
              f"{task.timeout:g} s; its worker was killed. Raise `@step(timeout=...)` "
              "if it needs longer.",
        duration=task.timeout or 0.0, state="TIMED_OUT",
    )


def died_outcome(task: StepTask, error: str) -> StepOutcome:
    """The outcome of an attempt whose worker died (out of memory, segfault, a Ray node
    lost): retried when the step's policy retries a ``ConnectionError``."""
    return StepOutcome(task.key, False, error=error, died=True)
