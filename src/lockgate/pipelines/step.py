"""The ``@step`` decorator and :class:`StepSpec`: execution options attached to a plain
function.

The decorator returns the very same function with a ``__lockgate_step__`` attribute,
so a unit test calls it like any other function and worker processes import it by
name. Wiring (which dataset feeds which argument) is not the step's business: it
lives in :class:`lockgate.pipelines.Pipeline`.
"""

from __future__ import annotations

import inspect
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from lockgate.errors import LockgateError
from lockgate.pipelines.errors import PipelineError

F = TypeVar("F", bound=Callable[..., Any])
_ATTRIBUTE = "__lockgate_step__"
_TABLE_REF = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*@(latest|v?\d+)$")

#: Retried by default: I/O and connection errors, timeouts included (all ``OSError``),
#: and the transient errors of the clients lockgate ships with, matched by name so that
#: none of them has to be imported.
TRANSIENT: tuple[type[BaseException], ...] = (OSError,)
TRANSIENT_NAMES = frozenset({
    "httpx.TransportError", "httpcore.NetworkError", "httpcore.TimeoutException",
    "redis.exceptions.ConnectionError", "redis.exceptions.TimeoutError",
    "sqlalchemy.exc.DisconnectionError", "psycopg.OperationalError",
    "urllib3.exceptions.ProtocolError", "urllib3.exceptions.TimeoutError",
})
#: Never retried by default even though they are ``OSError``s: the file is not there or
#: not allowed, and a second attempt meets the same file.
PERMANENT_OS_ERRORS: tuple[type[BaseException], ...] = (
    FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError,
    NotADirectoryError,
)


@dataclass(frozen=True, slots=True)
class StepSpec:
    """How a step runs: retries, timeout, caching and the resources it asks for.

    Attributes:
        retries: extra attempts after a retryable failure (0 = run once).
        retry_delay: base of the exponential backoff: before retry ``k`` the runner
            waits a random time in ``[0, min(retry_max_delay, retry_delay * 2**(k-1))]``
            ("full jitter", so retries of many steps do not hit a service together).
        retry_max_delay: cap of the backoff in seconds.
        retry_on: exception classes that are worth another attempt. None (the default)
            means transient ones: ``OSError`` (connection, timeout, broken pipe; not
            file-not-found or permission) and the named client errors in ``TRANSIENT_NAMES``;
            never ``ValueError``, ``TypeError`` or lockgate's own errors (bad input stays
            bad). A given tuple is used as is. A worker killed at its timeout counts as a
            ``TimeoutError``, a worker that died as a ``ConnectionError``.
        timeout: seconds one attempt may take before its worker is killed (None = no
            limit); the step run ends TIMED_OUT.
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
    retry_on: tuple[type[BaseException], ...] | None = None
    retry_max_delay: float = 60.0
    inputs: tuple[str, ...] = ()

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` after attempt ``attempt`` failed:
        uniform in ``[0, min(cap, delay * 2**(attempt-1))]`` (full jitter)."""
        ceiling = min(self.retry_max_delay, self.retry_delay * (2 ** max(0, attempt - 1)))
        return (rng or random).uniform(0.0, ceiling)

    def retries_on(self, error: BaseException | type[BaseException]) -> bool:
        """Whether a failure with this exception (or class) is worth another attempt."""
        cls = error if isinstance(error, type) else type(error)
        if self.retry_on is not None:
            return issubclass(cls, self.retry_on)
        if issubclass(cls, LockgateError | ValueError | TypeError) and not issubclass(
                cls, OSError):
            return False
        if issubclass(cls, PERMANENT_OS_ERRORS):
            return False
        names = {f"{c.__module__}.{c.__qualname__}" for c in cls.__mro__}
        return issubclass(cls, TRANSIENT) or bool(names & TRANSIENT_NAMES)


@overload
def step(func: F) -> F: ...


@overload
def step(
    func: None = None, *, retries: int = 0, retry_delay: float = 1.0,
    timeout: float | None = None, cache: bool = True, cpus: float = 1.0, gpus: float = 0.0,
    resources: Mapping[str, float] | None = None,
    retry_on: Sequence[type[BaseException]] | type[BaseException] | None = None,
    retry_max_delay: float = 60.0, inputs: Sequence[str] = (),
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
    retry_on: Sequence[type[BaseException]] | type[BaseException] | None = None,
    retry_max_delay: float = 60.0,
    inputs: Sequence[str] = (),
) -> F | Callable[[F], F]:
    """Mark a function as a pipeline step, leaving it an ordinary callable.

    Example:
        >>> @step(retries=2, timeout=600, inputs=["orders@latest"])
        ... def fit(train, alpha: float = 1.0):
        ...     ...
        >>> fit(frame, alpha=0.1)   # still a plain call in a unit test

    ``inputs`` names the tables the step reads with ``lg.data.read`` (``orders@latest``
    or ``orders@v7``): each is resolved to a concrete version when the pipeline run
    starts, recorded as a lineage edge, made part of the cache key, and is the version
    ``lg.data.read("orders")`` returns inside the step, so every step of a run sees the
    same data.

    Raises:
        PipelineError: an option is out of range.
    """
    if isinstance(retry_on, type):
        retry_on = (retry_on,)
    spec = StepSpec(
        retries=retries, retry_delay=retry_delay, timeout=timeout, cache=cache, cpus=cpus,
        gpus=gpus, resources=dict(resources or {}),
        retry_on=None if retry_on is None else tuple(retry_on),
        retry_max_delay=retry_max_delay,
        inputs=(inputs,) if isinstance(inputs, str) else tuple(inputs),
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
    if spec.retry_max_delay < spec.retry_delay:
        problems.append(f"retry_max_delay={spec.retry_max_delay!r} must be >= retry_delay")
    if spec.retry_on is not None and not all(
            isinstance(c, type) and issubclass(c, BaseException) for c in spec.retry_on):
        problems.append(f"retry_on={spec.retry_on!r} must be exception classes")
    for ref in spec.inputs:
        if not isinstance(ref, str) or not _TABLE_REF.match(ref):
            problems.append(f"input `{ref}` must name a table version: `orders@latest` or "
                            "`orders@v7`")
    if spec.timeout is not None and spec.timeout <= 0:
        problems.append(f"timeout={spec.timeout!r} must be > 0 seconds or None")
    if spec.cpus < 0 or spec.gpus < 0:
        problems.append("cpus and gpus must be >= 0")
    if problems:
        raise PipelineError("Invalid @step options: " + "; ".join(problems) + ".")
