"""Choosing an executor by name (the CLI's ``--executor``)."""

from __future__ import annotations

from lockgate.errors import close_matches
from lockgate.pipelines.errors import PipelineError
from lockgate.pipelines.executors.base import Executor
from lockgate.pipelines.executors.local import LocalExecutor

EXECUTORS = ("local", "ray")


def make_executor(name: str, *, address: str | None = None,
                  max_workers: int | None = None, start: bool = True) -> Executor:
    """Build the executor called ``name``.

    ``start=False`` builds a local executor without its worker pool, for callers that
    only ``map`` (cross-validation folds).

    Raises:
        PipelineError: an unknown name, or ``--address`` given to the local executor.
    """
    if name == "local":
        if address is not None:
            raise PipelineError("`--address` is for `--executor ray`; the local executor "
                                "runs on this machine.")
        return LocalExecutor(max_workers=max_workers, start=start)
    if name == "ray":
        from lockgate.pipelines.executors.ray import RayExecutor

        return RayExecutor(address=address)
    raise PipelineError(
        f"Unknown executor `{name}`." + close_matches(name, EXECUTORS)
        + f" Choose one of: {', '.join(EXECUTORS)}."
    )
