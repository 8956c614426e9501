"""The local executor: independent steps run in parallel worker processes, at most one
per core.

Workers come from a ``forkserver`` (a clean process that preloads lockgate), not from
``fork``: the runner has threads (heartbeats, console tees) that a forked child would
inherit in an unknown state. The caller's ``__main__`` is hidden while a worker starts,
so a script without an ``if __name__ == "__main__":`` guard is not re-run in every
worker (workers import step modules from their files instead). Each worker leads its
own process group, so a timeout kills the worker and whatever it started, never the
runner. Workers live for the whole pipeline run, which keeps the per-step overhead to a
few milliseconds.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import time
import types
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from lockgate.pipelines.executors.base import R, T, died_outcome, timeout_outcome
from lockgate.pipelines.task import StepOutcome, StepTask

#: Imported once by the forkserver and inherited by every worker, instead of once per
#: worker; missing ones are skipped.
PRELOAD = ("lockgate.pipelines.worker", "numpy", "polars", "sklearn.base", "skops.io")


def _worker_main(conn: Connection, environ: dict[str, str]) -> None:
    """Loop of a worker process: receive a task, run it, send the outcome back.

    ``environ`` is the parent's environment when the worker started: a forkserver child
    inherits the forkserver's environment, frozen when the first pool of the process
    started, so settings and credentials set later (``LOCKGATE_*``, ``AWS_*``) would
    otherwise be missing from, or stale in, every later worker.
    """
    os.environ.clear()
    os.environ.update(environ)
    os.setpgrp()  # its own process group: a timeout kill stays inside it
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner decides when workers stop
    from lockgate.pipelines.worker import execute_task

    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        conn.send(execute_task(task))


@contextlib.contextmanager
def _hidden_main() -> Iterator[None]:
    """Start processes as if from an interactive session: nothing re-imports __main__."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


@dataclass(slots=True)
class _Worker:
    process: multiprocessing.process.BaseProcess
    conn: Connection
    task: StepTask | None = None
    started: float = 0.0

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid or 0, signal.SIGKILL)
        self.process.join(timeout=5)
        self.conn.close()


class LocalExecutor:
    """Worker processes on this machine.

    Args:
        max_workers: parallel workers; default the number of cores.
        preload: modules the forkserver imports for all workers (the first
            ``LocalExecutor`` of a process decides; later ones share its forkserver).
        start: start the worker pool now (the default, so pool start-up is no step's
            time); False for callers that only :meth:`map`, which runs in this process.
    """

    name = "local"

    def __init__(self, max_workers: int | None = None,
                 preload: tuple[str, ...] = PRELOAD, *, start: bool = True) -> None:
        self.max_workers = max(1, max_workers or os.cpu_count() or 1)
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(list(preload))
        self._idle: list[_Worker] = []
        self._busy: list[_Worker] = []
        self._queue: deque[StepTask] = deque()
        # Start the pool now: forkserver start-up and imports are not any step's time.
        if start:
            self._idle = [self._start_worker() for _ in range(self.max_workers)]

    def pids(self) -> list[int]:
        """Process ids of the live workers (for monitoring and CPU accounting)."""
        return [w.process.pid for w in (*self._idle, *self._busy) if w.process.pid]

    def submit(self, task: StepTask) -> None:
        """Queue an attempt and start it if a worker is free."""
        self._queue.append(task)
        self._dispatch()

    def poll(self, timeout: float) -> list[StepOutcome]:
        """Outcomes arriving within ``timeout``; attempts past their timeout are killed."""
        if not self._busy:
            if timeout > 0:
                time.sleep(timeout)
            return []
        wait_for = min([timeout, *(self._time_left(w) for w in self._busy)])
        ready = wait([w.conn for w in self._busy], timeout=max(0.0, wait_for))
        outcomes = [self._receive(w) for w in list(self._busy) if w.conn in ready]
        outcomes += [self._expire(w) for w in list(self._busy) if self._time_left(w) <= 0]
        self._dispatch()
        return outcomes

    def close(self) -> None:
        """Stop idle workers politely and kill busy ones."""
        for worker in self._idle:
            with contextlib.suppress(OSError):
                worker.conn.send(None)
            worker.process.join(timeout=2)
            if worker.process.is_alive():
                worker.kill()
        for worker in self._busy:
            worker.kill()
        self._idle, self._busy = [], []
        self._queue.clear()

    def map(self, func: Callable[..., R], items: Sequence[T], *, shared: tuple[Any, ...] = (),
            progress: Callable[[R], None] | None = None) -> list[R]:
        """``func(item, *shared)`` for every item, one after another in this process (the
        work itself, e.g. a fold's estimator, uses the cores)."""
        results = []
        for item in items:
            result = func(item, *shared)
            if progress is not None:
                progress(result)
            results.append(result)
        return results

    def _dispatch(self) -> None:
        while self._queue and len(self._busy) < self.max_workers:
            task = self._queue.popleft()
            worker = self._idle.pop() if self._idle else self._start_worker()
            worker.task, worker.started = task, time.monotonic()
            worker.conn.send(task)
            self._busy.append(worker)

    def _start_worker(self) -> _Worker:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(target=_worker_main, args=(child, dict(os.environ)),
                                    daemon=True, name="lockgate-step-worker")
        with _hidden_main():
            process.start()
        child.close()
        return _Worker(process, parent)

    def _time_left(self, worker: _Worker) -> float:
        if worker.task is None or worker.task.timeout is None:
            return float("inf")
        return worker.task.timeout - (time.monotonic() - worker.started)

    def _receive(self, worker: _Worker) -> StepOutcome:
        task = worker.task
        assert task is not None
        self._busy.remove(worker)
        try:
            outcome: StepOutcome = worker.conn.recv()
        except (EOFError, OSError):
            worker.process.join(timeout=5)
            code = worker.process.exitcode
            worker.kill()
            return died_outcome(
                task, f"WorkerDied: the worker process running step `{task.key}` exited with "
                      f"code {code} (killed or crashed: out of memory, segfault, os._exit).")
        worker.task = None
        self._idle.append(worker)
        return outcome

    def _expire(self, worker: _Worker) -> StepOutcome:
        task = worker.task
        assert task is not None
        self._busy.remove(worker)
        worker.kill()
        return timeout_outcome(task)
