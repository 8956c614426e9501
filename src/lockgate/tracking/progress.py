"""Progress of long work: stages report tasks (folds, bootstrap, permutation importance,
quickstart sections) and whoever started the work decides how to show them.

    with progress.task("cross-validation", total=5, unit="folds") as bar:
        for fold in folds:
            ...
            bar.advance()

Every event goes to the active run's console log as a plain line, so a run read back
later shows where its time went. On screen, :func:`rich_progress` draws Rich bars with
the elapsed time, only on a terminal and never with ``quiet``: piped output and CI logs
stay clean. Stages call :func:`task` and know nothing about the rendering.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal, TextIO

EventKind = Literal["start", "advance", "end"]

#: How often (seconds) an ``advance`` is written to the run's console log.
LOG_EVERY_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """One step of a task: started, advanced, or ended after ``elapsed`` seconds."""

    task: str
    kind: EventKind
    completed: int
    total: int | None
    elapsed: float
    unit: str = ""

    def line(self) -> str:
        """The event as one plain line (the run's console log)."""
        count = (f" {self.completed}/{self.total} {self.unit}".rstrip() if self.total
                 else (f" {self.completed} {self.unit}".rstrip() if self.completed else ""))
        verb = {"start": "started", "advance": "at", "end": "done"}[self.kind]
        return f"[progress] {self.task}: {verb}{count} ({self.elapsed:.1f} s)\n"


ProgressCallback = Callable[[ProgressEvent], None]
_CALLBACKS: ContextVar[tuple[ProgressCallback, ...]] = ContextVar("lockgate_progress",
                                                                  default=())


class Task:
    """A running task; :meth:`advance` it as work completes."""

    def __init__(self, name: str, total: int | None, unit: str) -> None:
        self.name, self.total, self.unit = name, total, unit
        self.completed = 0
        # Taken now: executors may report from other threads, where context is not set.
        self._callbacks = _CALLBACKS.get()
        self._run = _active_run()
        self.started = time.perf_counter()
        self._logged = self.started
        self._lock = threading.Lock()

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more units done (thread-safe: executors report from threads)."""
        with self._lock:
            self.completed += n
            now = time.perf_counter()
            to_log = now - self._logged >= LOG_EVERY_SECONDS
            if to_log:
                self._logged = now
        self._emit(self._event("advance"), to_log=to_log)

    def _emit(self, event: ProgressEvent, *, to_log: bool) -> None:
        for callback in self._callbacks:
            callback(event)
        if to_log and self._run is not None:
            self._run.log_console_line(event.line())

    def _event(self, kind: EventKind) -> ProgressEvent:
        return ProgressEvent(self.name, kind, self.completed, self.total,
                             time.perf_counter() - self.started, self.unit)


@contextlib.contextmanager
def task(name: str, total: int | None = None, unit: str = "") -> Iterator[Task]:
    """Report a task's start, advances and end (with its elapsed time)."""
    current = Task(name, total, unit)
    current._emit(current._event("start"), to_log=True)
    try:
        yield current
    finally:
        current._emit(current._event("end"), to_log=True)


@contextlib.contextmanager
def reporting(callback: ProgressCallback) -> Iterator[None]:
    """Send every event of the work inside the block to ``callback`` too."""
    token = _CALLBACKS.set((*_CALLBACKS.get(), callback))
    try:
        yield
    finally:
        _CALLBACKS.reset(token)


@contextlib.contextmanager
def rich_progress(*, quiet: bool = False, file: TextIO | None = None) -> Iterator[None]:
    """Draw the tasks of the block as Rich bars with elapsed time (on a terminal only).

    ``file`` defaults to stderr as it is now, before any run's console capture: the
    bars' redraws never end up in a console log (the events do, as lines).
    """
    stream = file or sys.stderr
    if quiet or not stream.isatty():
        yield
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    screen = Console(file=stream)
    bars = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), console=screen, transient=True)
    ids: dict[str, Any] = {}

    def draw(event: ProgressEvent) -> None:
        if event.kind == "start":
            ids[event.task] = bars.add_task(event.task, total=event.total)
        elif event.kind == "advance" and event.task in ids:
            bars.update(ids[event.task], completed=event.completed)
        elif event.kind == "end" and event.task in ids:
            bars.remove_task(ids.pop(event.task))
            done = f" {event.completed} {event.unit}".rstrip() if event.completed else ""
            screen.print(f"[green]✓[/] {event.task}{done} [dim]{event.elapsed:.1f} s[/]",
                         highlight=False)

    with bars, reporting(draw):
        yield


def _active_run() -> Any:
    from lockgate.tracking.run import active_run  # run imports the store; progress does not

    return active_run()
