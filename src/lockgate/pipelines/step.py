"""The ``@step`` decorator and :class:`StepSpec`: execution options attached to a plain
function.

The decorator returns the very same function with a ``__lockgate_step__`` attribute,
so a unit test calls it like any other function and worker processes import it by
name. Wiring (which dataset feeds which argument) is not the step's business: it
lives in :class:`lockgate.pipelines.Pipeline`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from lockgate.pipelines.errors import PipelineError

F = TypeVar("F", bound=Callable[..., Any])
_ATTRIBUTE = "__lockgate_step__"


@dataclass(frozen=True, slots=True)
class StepSpec:
    """How a step runs: retries, timeout, caching and the resources it asks for.

    Attributes:
        retries: extra attempts after a failure (0 = run once).
        retry_delay: seconds before the first retry; doubles on every further retry.
        timeout: seconds one attempt may take before its worker is killed (None = no limit).
        cache: whether an unchanged step may be skipped and its earlier outputs reused.
        cpus: CPUs the step needs (Ray schedules by it; the local executor runs one step
            per worker process).
        gpus: GPUs the step needs (Ray only).
        resources: further custom Ray resources, e.g. ``{"memory_heavy": 1}``.
    """

    retries: int = 0
    retry_delay: float = 1.0
    timeout: float | None = None
    cache: bool = True
    cpus: float = 1.0
    gpus: float = 0.0
    resources: Mapping[str, float] = field(default_factory=dict)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt + 1`` after attempt ``attempt`` failed."""
        return self.retry_delay * (2 ** max(0, attempt - 1))


@overload
def step(func: F) -> F: ...


@overload
def step(
    func: None = None, *, retries: int = 0, retry_delay: float = 1.0,
    timeout: float | None = None, cache: bool = True, cpus: float = 1.0, gpus: float = 0.0,
    resources: Mapping[str, float] | None = None,
) -> Callable[[F], F]: ...


def step(
    func: F | None = None,
    *,
    retries: int = 0,
    retry_delay: float = 1.0,
    timeout: float | None = None,
    cache: bool = True,
    cpus: float = 1.0,
    gpus: float = 0.0,
    resources: Mapping[str, float] | None = None,
) -> F | Callable[[F], F]:
    """Mark a function as a pipeline step, leaving it an ordinary callable.

    Example:
        >>> @step(retries=2, timeout=600)
        ... def fit(train, alpha: float = 1.0):
        ...     ...
        >>> fit(frame, alpha=0.1)   # still a plain call in a unit test

    Raises:
        PipelineError: an option is out of range.
    """
    spec = StepSpec(
        retries=retries, retry_delay=retry_delay, timeout=timeout, cache=cache, cpus=cpus,
        gpus=gpus, resources=dict(resources or {}),
    )
    _check_spec(spec)

    def attach(target: F) -> F:
        if not callable(target) or not inspect.isfunction(target):
            raise PipelineError(
                f"@step decorates functions; got {type(target).__name__}. Wrap the callable "
                "in a module-level `def`."
            )
        setattr(target, _ATTRIBUTE, spec)
        return target

    return attach(func) if func is not None else attach


def spec_of(func: Callable[..., Any]) -> StepSpec:
    """The options of a step; a plain function without ``@step`` gets the defaults."""
    found = getattr(func, _ATTRIBUTE, None)
    return found if isinstance(found, StepSpec) else StepSpec()


def _check_spec(spec: StepSpec) -> None:
    problems = []
    if not isinstance(spec.retries, int) or spec.retries < 0:
        problems.append(f"retries={spec.retries!r} must be an int >= 0")
    if spec.retry_delay < 0:
        problems.append(f"retry_delay={spec.retry_delay!r} must be >= 0 seconds")
    if spec.timeout is not None and spec.timeout <= 0:
        problems.append(f"timeout={spec.timeout!r} must be > 0 seconds or None")
    if spec.cpus < 0 or spec.gpus < 0:
        problems.append("cpus and gpus must be >= 0")
    if problems:
        raise PipelineError("Invalid @step options: " + "; ".join(problems) + ".")
