"""The code a worker runs for one step attempt, on any executor: load the inputs from
the artifact store, call the plain function with console capture, store the outputs.

It never raises: every failure comes back as a :class:`StepOutcome`, so executors only
have to move records, and a worker process survives a failing step. Console output is
written while the step runs (every half second), so an attempt killed at its timeout
keeps what it printed. Whether a failure is worth a retry is the step's policy
(``@step(retry_on=...)``), judged here where the exception is.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from typing import Any

from lockgate.artifacts import ArtifactStore, allowlist, blob_store_for
from lockgate.errors import LockgateError
from lockgate.pipelines import step_context
from lockgate.pipelines.reference import resolve_function
from lockgate.pipelines.step import spec_of
from lockgate.pipelines.task import Ref, StepOutcome, StepTask
from lockgate.store import ArtifactRecord, Store
from lockgate.tracking.console import ConsoleBuffer, ConsoleCapture

_CONSOLE_FLUSH_SECONDS = 0.5


class _OutputError(LockgateError, TypeError):
    """A step returned something its declared outputs cannot hold."""


def execute_task(task: StepTask) -> StepOutcome:
    """Run one step attempt and store its outputs; the outcome says how it went."""
    start = time.monotonic()
    store = Store.open(task.settings, migrate=False)
    artifacts = ArtifactStore(store, blob_store_for(task.settings.resolved_artifact_root),
                              allowlist(task.settings))
    buffer = ConsoleBuffer(task.step_run_id)
    capture = ConsoleCapture(buffer)
    context = step_context.StepContext(task.pipeline_run_id, task.step_run_id, task.node,
                                       task.item, task.attempt, dict(task.tables))
    flusher = _ConsoleFlusher(store, buffer, task)
    capture.start()
    flusher.start()
    step_context.enter(context)
    try:
        with _settings_environment(task):
            outcome = _attempt(task, artifacts)
    finally:
        step_context.leave(context)
        capture.stop()
        flusher.stop()
    reads = tuple(r.to_dict() for r in context.reads)
    _record_reads(store, task, context.reads)
    return StepOutcome(task.key, outcome.ok, outcome.outputs, outcome.error,
                       outcome.retryable, time.monotonic() - start, reads=reads)


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
        return StepOutcome(task.key, False, error=_format(exc),
                           retryable=spec_of(func).retries_on(exc))
    try:
        return StepOutcome(task.key, True, outputs=_store_outputs(task, artifacts, value))
    except LockgateError as exc:
        return StepOutcome(task.key, False, error=f"{type(exc).__name__}: {exc}",
                           retryable=False)
    except Exception as exc:
        return StepOutcome(task.key, False, error=_format(exc), retryable=False)


@contextlib.contextmanager
def _settings_environment(task: StepTask) -> Iterator[None]:
    """The run's store and roots as LOCKGATE_* variables while the step runs, so that
    ``lg.data.read("orders")`` in a step body reads the pipeline's tables (and is
    recorded on its run) without being handed settings."""
    settings = task.settings
    values = {"LOCKGATE_HOME": str(settings.home.resolve()),
              "LOCKGATE_DB_URL": settings.resolved_db_url,
              "LOCKGATE_ARTIFACT_ROOT": str(settings.resolved_artifact_root),
              "LOCKGATE_DATA_ROOT": str(settings.resolved_data_root)}
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


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


class _ConsoleFlusher:
    """Writes the attempt's console to the store while it runs, and once more at the end;
    the first chunk of a retry is headed ``--- attempt N ---``."""

    def __init__(self, store: Store, buffer: ConsoleBuffer, task: StepTask) -> None:
        self.store, self.buffer, self.task = store, buffer, task
        self._headed = task.attempt == 1
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name=f"lockgate-console-{task.key}")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.flush()

    def _loop(self) -> None:
        while not self._stop.wait(_CONSOLE_FLUSH_SECONDS):
            with contextlib.suppress(Exception):  # retried on the next tick, and at stop
                self.flush()

    def flush(self) -> None:
        with self._lock:
            rows = self.buffer.drain()
            if not rows:
                return
            if not self._headed:
                rows.insert(0, {"run_id": self.task.step_run_id, "stream": "stdout",
                                "timestamp": rows[0]["timestamp"],
                                "text": f"--- attempt {self.task.attempt} ---\n"})
            try:
                self.store.append_console(rows)
            except Exception as exc:  # the outcome matters more than the log; say so
                print(f"lockgate: could not store console of step {self.task.key}: {exc}",
                      file=sys.__stderr__)
                return
            self._headed = True


def _record_reads(store: Store, task: StepTask, reads: list[step_context.TableRead]) -> None:
    """Lineage edges from the step run to every table version it read (once per run)."""
    if not reads:
        return
    known = {e.dataset_version_id for e in store.lineage(run_id=task.step_run_id)
             if e.direction == "consumed" and e.dataset_version_id is not None}
    for read in reads:
        try:
            found = store.dataset_version(read.table, read.version)
        except LookupError:
            continue  # a table lockgate did not land: the ledger still has the read
        if found.id not in known:
            store.add_lineage(task.step_run_id, "consumed", dataset_version_id=found.id,
                              role=f"read {found.ref}", note="read by lg.data.read")
            known.add(found.id)
