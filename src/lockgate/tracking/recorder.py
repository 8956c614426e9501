"""The background recorder of a run: flushes buffered metrics and console output every
second, beats the heartbeat, and samples hardware, all from one daemon thread."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from lockgate.store import Store
from lockgate.tracking.console import ConsoleBuffer
from lockgate.tracking.hardware import HardwareSampler


class MetricBuffer:
    """Metric points waiting to be written; appending is a list append under a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: list[tuple[str, int, float, float]] = []

    def append(self, key: str, step: int, timestamp: float, value: float) -> None:
        with self._lock:
            self._rows.append((key, step, timestamp, value))

    def drain(self) -> list[tuple[str, int, float, float]]:
        with self._lock:
            rows, self._rows = self._rows, []
        return rows

    def restore(self, rows: list[tuple[str, int, float, float]]) -> None:
        """Put rows back in front after a failed write, so nothing is lost."""
        with self._lock:
            self._rows = rows + self._rows


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

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and write everything still buffered."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=30)
        self.flush(raise_errors=True)
        if self._sampler is not None:
            self._write_hardware()

    def flush(self, *, raise_errors: bool = False) -> None:
        """Write buffered metrics and console chunks now."""
        with self._flush_lock:
            rows = self.metrics.drain()
            try:
                if rows:
                    run_id = self.run_id
                    self.store.log_metric_tuples([(run_id, *row) for row in rows])
            except Exception:
                self.metrics.restore(rows)
                if raise_errors:
                    raise
                self._warn("metrics")
            if self.console is not None:
                chunks = self.console.drain()
                try:
                    self.store.append_console(chunks)
                except Exception:
                    if raise_errors:
                        raise
                    self._warn("console output")

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

