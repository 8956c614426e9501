"""The code a worker runs for one step attempt, on any executor: load the inputs from
the artifact store, call the plain function with console capture, store the outputs.

It never raises: every failure comes back as a :class:`StepOutcome`, so executors only
have to move records, and a worker process survives a failing step.
"""

from __future__ import annotations

import time
import traceback
from typing import Any

from lockgate.artifacts import ArtifactStore, LocalBlobStore, allowlist
from lockgate.errors import LockgateError
from lockgate.pipelines.reference import resolve_function
from lockgate.pipelines.task import Ref, StepOutcome, StepTask
from lockgate.store import ArtifactRecord, Store
from lockgate.tracking.console import ConsoleBuffer, ConsoleCapture


class _OutputError(LockgateError, TypeError):
    """A step returned something its declared outputs cannot hold."""


def execute_task(task: StepTask) -> StepOutcome:
    """Run one step attempt and store its outputs; the outcome says how it went."""
    start = time.monotonic()
    store = Store.open(task.settings, migrate=False)
    artifacts = ArtifactStore(store, LocalBlobStore(task.settings.resolved_artifact_root),
                              allowlist(task.settings))
    buffer = ConsoleBuffer(task.step_run_id)
    capture = ConsoleCapture(buffer)
    capture.start()
    try:
        outcome = _attempt(task, artifacts)
    finally:
        capture.stop()
        _write_console(store, buffer, task)
    return StepOutcome(task.key, outcome.ok, outcome.outputs, outcome.error,
                       outcome.retryable, time.monotonic() - start)


def _attempt(task: StepTask, artifacts: ArtifactStore) -> StepOutcome:
    try:
        func = resolve_function(*task.function)
        kwargs = {arg: _load(artifacts, ref) for arg, ref in task.inputs.items()}
    except Exception as exc:
        return StepOutcome(task.key, False, error=_format(exc), retryable=False)
    kwargs.update(task.params)
    try:
        value = func(**kwargs)
    except Exception as exc:
        return StepOutcome(task.key, False, error=_format(exc))
    try:
        return StepOutcome(task.key, True, outputs=_store_outputs(task, artifacts, value))
    except LockgateError as exc:
        return StepOutcome(task.key, False, error=f"{type(exc).__name__}: {exc}",
                           retryable=False)
    except Exception as exc:
        return StepOutcome(task.key, False, error=_format(exc), retryable=False)


def _load(artifacts: ArtifactStore, ref: Ref) -> Any:
    if isinstance(ref, ArtifactRecord):
        return artifacts.load(ref)
    return [artifacts.load(item) for item in ref]


def _store_outputs(task: StepTask, artifacts: ArtifactStore, value: Any) -> dict[str, Ref]:
    values = _split(task, value)
    stored: dict[str, Ref] = {}
    for name, item in zip(task.outputs, values, strict=True):
        label = f"{task.key}.{name}"
        if name in task.split_outputs:
            if not isinstance(item, list | tuple):
                raise _OutputError(
                    f"Output `{name}` of step `{task.key}` feeds a fan-out, so it must be a "
                    f"list or tuple; got {type(item).__name__}."
                )
            stored[name] = tuple(
                artifacts.save(element, f"{label}[{i}]", run_id=task.step_run_id)
                for i, element in enumerate(item)
            )
        else:
            stored[name] = artifacts.save(item, label, run_id=task.step_run_id)
    return stored


def _split(task: StepTask, value: Any) -> tuple[Any, ...]:
    count = len(task.outputs)
    if count == 0:
        if value is not None:
            raise _OutputError(
                f"Step `{task.key}` returned a {type(value).__name__} but declares no outputs; "
                "name them with `node(..., outputs=...)` or return None."
            )
        return ()
    if count == 1:
        return (value,)
    if not isinstance(value, tuple | list) or len(value) != count:
        got = f"{len(value)} values" if isinstance(value, tuple | list) else type(value).__name__
        raise _OutputError(
            f"Step `{task.key}` declares {count} outputs {list(task.outputs)} but returned "
            f"{got}; return a tuple of {count} values in that order."
        )
    return tuple(value)


def _format(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def _write_console(store: Store, buffer: ConsoleBuffer, task: StepTask) -> None:
    rows = buffer.drain()
    if not rows:
        return
    if task.attempt > 1:
        rows.insert(0, {"run_id": task.step_run_id, "stream": "stdout",
                        "timestamp": rows[0]["timestamp"],
                        "text": f"--- attempt {task.attempt} ---\n"})
    try:
        store.append_console(rows)
    except Exception as exc:  # the outcome matters more than the log; say so, do not hide it
        print(f"lockgate: could not store console of step {task.key}: {exc}")
