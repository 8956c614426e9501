"""The background recorder of a run: flushes buffered metrics and console output every
second, beats the heartbeat, and samples hardware, all from one daemon thread."""

from __future__ import annotations

import sys
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from lockgate.store import Store
from lockgate.tracking.console import ConsoleBuffer
from lockgate.tracking.hardware import HardwareSampler

#: Metric points a run holds while its store cannot take them (a server down): beyond
#: this the oldest are dropped, counted and reported, never silently.
MAX_BUFFERED_POINTS = 200_000


@dataclass(frozen=True, slots=True)
class FlushReport:
    """What a flush did: points written now, points still waiting (the store did not
    answer in time), points dropped since the run started because the buffer was full,
    and the last error, if any."""

    sent: int
    pending: int
    dropped: int
    error: str | None = None

    @property
    def complete(self) -> bool:
        """Everything logged so far is stored."""
        return self.pending == 0 and self.dropped == 0


class MetricBuffer:
    """Metric points waiting to be written; appending is a list append under a lock.

    Bounded: beyond ``max_rows`` the oldest points are dropped and counted (``dropped``),
    so a long outage of the store costs memory up to the bound, never more.
    """

    def __init__(self, max_rows: int = MAX_BUFFERED_POINTS) -> None:
        self._lock = threading.Lock()
        self._rows: list[tuple[str, int, float, float]] = []
        self.max_rows = max_rows
        self.dropped = 0

    def append(self, key: str, step: int, timestamp: float, value: float) -> None:
        with self._lock:
            self._rows.append((key, step, timestamp, value))
            if len(self._rows) > self.max_rows:
                self._trim()

    def drain(self) -> list[tuple[str, int, float, float]]:
        with self._lock:
            rows, self._rows = self._rows, []
        return rows

    def restore(self, rows: list[tuple[str, int, float, float]]) -> None:
        """Put rows back in front after a failed write, so nothing is lost."""
        with self._lock:
            self._rows = rows + self._rows
            self._trim()

    def __len__(self) -> int:
        return len(self._rows)

    def _trim(self) -> None:
        extra = len(self._rows) - self.max_rows
        if extra > 0:
            del self._rows[:extra]
            self.dropped += extra


class Recorder:
    """Writes a run's buffers to the store on a schedule, and once more on stop."""

    def __init__(
        self,
        store: Store,
        run_id: str,
        *,
        metrics: MetricBuffer,
        console: ConsoleBuffer | None,
        flush_seconds: float,
        heartbeat_seconds: float,
        hardware_seconds: float | None,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.metrics = metrics
        self.console = console
        self.flush_seconds = flush_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.hardware_seconds = hardware_seconds
        self._sampler = HardwareSampler() if hardware_seconds else None
        self._stop = threading.Event()
        self._flush_lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name=f"lockgate-run-{run_id}",
                                        daemon=True)
        self._warned = False
        self._batch: tuple[str, list[tuple[str, int, float, float]]] | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> FlushReport:
        """Stop the thread and write everything still buffered (within ``timeout``
        seconds when given: at exit, a store that does not answer must not hang the
        process; what could not be written is reported, not raised)."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=30 if timeout is None else timeout)
        report = self.flush(raise_errors=timeout is None, timeout=timeout)
        if self._sampler is not None:
            self._write_hardware()
        return report

    def flush(self, *, raise_errors: bool = False, timeout: float | None = None
              ) -> FlushReport:
        """Write buffered metrics and console chunks now.

        A batch that failed is retried as the same batch with the same request id, so a
        server that stored it but whose answer was lost does not store it twice.
        """
        with _within(self.store, timeout), self._flush_lock:
            sent, error = 0, None
            if self._batch is None:
                rows = self.metrics.drain()
                self._batch = (uuid.uuid4().hex, rows) if rows else None
            try:
                if self._batch is not None:
                    key, rows = self._batch
                    self._write_metrics(rows, key)
                    sent, self._batch = len(rows), None
                    rows = self.metrics.drain()  # what arrived meanwhile
                    if rows:
                        self._batch = (uuid.uuid4().hex, rows)
                        self._write_metrics(rows, self._batch[0])
                        sent, self._batch = sent + len(rows), None
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                if raise_errors and timeout is None:
                    raise
                self._warn("metrics")
            if self.console is not None:
                chunks = self.console.drain()
                try:
                    self.store.append_console(chunks)
                except Exception:
                    if raise_errors and timeout is None:
                        raise
                    self._warn("console output")
            pending = len(self.metrics) + (len(self._batch[1]) if self._batch else 0)
            return FlushReport(sent, pending, self.metrics.dropped, error)

    def _write_metrics(self, rows: list[tuple[str, int, float, float]], key: str) -> None:
        run_id = self.run_id
        tuples = [(run_id, *row) for row in rows]
        if getattr(self.store, "remote", False):
            self.store.log_metric_tuples(tuples, request_id=key)  # type: ignore[call-arg]
        else:
            self.store.log_metric_tuples(tuples)

    def _loop(self) -> None:
        ticks = [self.flush_seconds, self.heartbeat_seconds]
        if self.hardware_seconds:
            ticks.append(self.hardware_seconds)
        interval = min(ticks)
        next_flush = next_beat = time.monotonic()
        next_hw = time.monotonic()
        while not self._stop.wait(interval):
            now = time.monotonic()
            if now >= next_flush:
                self.flush()
                next_flush = now + self.flush_seconds
            if now >= next_beat:
                self._beat()
                next_beat = now + self.heartbeat_seconds
            if self._sampler is not None and now >= next_hw:
                self._write_hardware()
                next_hw = now + (self.hardware_seconds or interval)

    def _beat(self) -> None:
        try:
            self.store.heartbeat(self.run_id)
        except Exception:
            self._warn("heartbeat")

    def _write_hardware(self) -> None:
        assert self._sampler is not None
        try:
            row: dict[str, Any] = self._sampler.sample(self.run_id)
            self.store.add_hardware_samples([row])
        except Exception:
            self._warn("hardware sample")

    def _warn(self, what: str) -> None:
        if not self._warned:
            self._warned = True
            print(
                f"lockgate: could not write {what} of run {self.run_id} yet; will retry.",
                file=sys.__stderr__,
            )


def _within(store: Store, timeout: float | None) -> Any:
    """A deadline for every store call of a flush (a remote store only: the embedded
    store's writes are local and bounded by its own lock timeouts)."""
    import contextlib

    deadline = getattr(store, "deadline", None)
    if timeout is None or deadline is None:
        return contextlib.nullcontext()
    return deadline(timeout)
