"""One thread beating the heartbeat of every running step run of a pipeline run, so
that readers see queued and running steps as alive (and as CRASHED if the runner dies)."""

from __future__ import annotations

import contextlib
import threading

from lockgate.store import Store


class Heartbeat:
    """One thread beating the heartbeat of every running step run of the pipeline run."""

    def __init__(self, store: Store, seconds: float) -> None:
        self.store, self.seconds = store, seconds
        self._ids: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="lockgate-step-heartbeat",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def add(self, run_id: str) -> None:
        with self._lock:
            self._ids.add(run_id)

    def discard(self, run_id: str) -> None:
        with self._lock:
            self._ids.discard(run_id)

    def _loop(self) -> None:
        while not self._stop.wait(self.seconds):
            with self._lock:
                ids = list(self._ids)
            for run_id in ids:
                # A missed beat is retried next time; readers allow one miss (2 x interval).
                with contextlib.suppress(Exception):
                    self.store.heartbeat(run_id)
