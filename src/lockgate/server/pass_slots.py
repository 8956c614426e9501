"""How many monitor passes ``lockgate server`` runs at once: one per model and a few per
server.

A pass may profile a cold prediction log for minutes (the client waits up to
:data:`~lockgate.monitoring.server_pass.PASS_SECONDS`) and holds one worker thread
while it does, so unbounded passes would take the thread pool every other request
needs. A second pass of a model already being measured would measure the same windows
again, so it is refused with 409; a pass beyond the server's limit with 429. Both carry
``Retry-After`` (how long the running pass is expected to take, from the model's last
pass). A retry of the running request itself (the same ``Idempotency-Key``) is not
refused: :func:`~lockgate.server.idempotency.applied_once` answers it "being applied"
until the pass ends, and then with the pass's answer, so the client joins it.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Iterator

from fastapi import HTTPException

#: Passes one server runs at once (each holds a worker thread for its duration).
MAX_PASSES = 2
#: ``Retry-After`` when nothing says how long a pass takes.
DEFAULT_RETRY_S = 30.0


class PassSlots:
    """At most ``limit`` passes at once, one per model; refused, never queued."""

    def __init__(self, limit: int = MAX_PASSES) -> None:
        if limit < 1:
            raise ValueError(f"The server must allow at least one monitor pass, not {limit}.")
        self.limit = limit
        self._running: dict[str, float] = {}  # model -> monotonic start
        self._took: dict[str, float] = {}  # model -> seconds its last pass took
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def held(self, model: str) -> Iterator[None]:
        """Hold ``model``'s slot for the block.

        Raises:
            HTTPException: 409 when a pass of ``model`` is running, 429 when ``limit``
                passes are; with ``Retry-After``.
        """
        with self._lock:
            now = time.monotonic()
            if model in self._running:
                wait = self._remaining(model, now)
                raise HTTPException(409, (
                    f"A monitor pass of `{model}` is already running (for "
                    f"{now - self._running[model]:.0f} s); its windows and incidents will be "
                    f"recorded. Retry in {wait} s, or read them with `lockgate monitor "
                    f"report {model}`."), headers={"Retry-After": str(wait)})
            if len(self._running) >= self.limit:
                wait = min(self._remaining(m, now) for m in self._running)
                raise HTTPException(429, (
                    f"This server runs at most {self.limit} monitor passes at once and "
                    f"{len(self._running)} are running; retry in {wait} s."),
                    headers={"Retry-After": str(wait)})
            self._running[model] = now
        try:
            yield
        finally:
            with self._lock:
                started = self._running.pop(model)
                self._took[model] = time.monotonic() - started

    def running(self) -> dict[str, float]:
        """The models being measured and for how many seconds."""
        now = time.monotonic()
        with self._lock:
            return {model: now - started for model, started in self._running.items()}

    def _remaining(self, model: str, now: float) -> int:
        took = self._took.get(model, DEFAULT_RETRY_S)
        return max(1, math.ceil(took - (now - self._running[model])))
