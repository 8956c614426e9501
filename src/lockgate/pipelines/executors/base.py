"""The executor protocol: submit step attempts, collect outcomes, enforce timeouts."""

from __future__ import annotations

from typing import Protocol

from lockgate.pipelines.task import StepOutcome, StepTask


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
