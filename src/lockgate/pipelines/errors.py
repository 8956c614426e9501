"""Errors of the pipelines stage; each also inherits the matching builtin."""

from __future__ import annotations

from lockgate.errors import LockgateError


class PipelineError(LockgateError, ValueError):
    """A pipeline's wiring, reference or parameters are invalid (found before running)."""


class ParamsError(PipelineError):
    """A parameter file or ``--set`` override does not match the step signatures."""


class ScheduleError(LockgateError, ValueError):
    """A schedule is malformed, duplicated or unknown."""


class PipelineFailedError(LockgateError, RuntimeError):
    """A pipeline run ended FAILED; carries the run id and the failed steps."""

    def __init__(self, message: str, run_id: str, failed: tuple[str, ...]) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.failed = failed
