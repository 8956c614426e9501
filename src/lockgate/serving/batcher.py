"""Adaptive micro-batching: requests that arrive while the model is busy are predicted
together in the next call.

Nothing waits for a batch to fill: an idle server predicts a lone request at once;
under load, each model call takes everything that queued during the previous one (up
to ``max_rows``). The model call runs on one worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lockgate.serving.served_model import ModelHolder, ServedModel

#: ``(served, predictions, probabilities, cpu_ms_per_row)``: the model call's CPU time
#: shared equally by the rows it predicted (requests batched together share the call).
Result = tuple[ServedModel, list[Any], list[float | None], float]


class MicroBatcher:
    """Groups concurrent predict calls into single model calls."""

    def __init__(self, holder: ModelHolder, *, max_rows: int = 256,
                 on_batch: Callable[[int], None] | None = None) -> None:
        self.holder = holder
        self.max_rows = max_rows
        self.on_batch = on_batch
        self._queue: list[tuple[list[dict[str, Any]], asyncio.Future[Result]]] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="predict")
        self._closing = False

    def start(self) -> None:
        """Start the batching task on the running event loop."""
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def predict(self, rows: list[dict[str, Any]]) -> Result:
        """Predict rows (possibly together with other requests' rows)."""
        if self._closing or self._wake is None:
            raise RuntimeError("the server is shutting down")
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((rows, future))
        self._wake.set()
        return await future

    async def stop(self) -> None:
        """Finish every queued request, then stop."""
        self._closing = True
        if self._wake is not None:
            self._wake.set()
        if self._task is not None:
            await self._task
        self._pool.shutdown(wait=True)

    async def _run(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch = self._take()
                served = self.holder.current
                rows = [row for request_rows, _ in batch for row in request_rows]
                try:
                    predictions, probabilities, cpu = await loop.run_in_executor(
                        self._pool, served.timed_predict, rows)
                except Exception as exc:
                    await self._fail_one_by_one(batch, served, exc)
                    continue
                cpu_ms = cpu * 1000 / len(rows) if rows else 0.0
                if self.on_batch is not None:
                    self.on_batch(len(rows))
                start = 0
                for request_rows, future in batch:
                    end = start + len(request_rows)
                    if not future.done():
                        future.set_result((served, predictions[start:end],
                                           probabilities[start:end], cpu_ms))
                    start = end
            if self._closing and not self._queue:
                return

    def _take(self) -> list[tuple[list[dict[str, Any]], asyncio.Future[Result]]]:
        taken, rows = 0, 0
        for request_rows, _ in self._queue:
            if taken and rows + len(request_rows) > self.max_rows:
                break
            taken += 1
            rows += len(request_rows)
        batch, self._queue = self._queue[:taken], self._queue[taken:]
        return batch

    async def _fail_one_by_one(self, batch: list[Any], served: ServedModel,
                               exc: Exception) -> None:
        """One bad request must not fail its batch-mates: retry each alone."""
        loop = asyncio.get_running_loop()
        if len(batch) == 1:
            rows, future = batch[0]
            if not future.done():
                future.set_exception(exc)
            return
        for rows, future in batch:
            try:
                predictions, probabilities, cpu = await loop.run_in_executor(
                    self._pool, served.timed_predict, rows)
            except Exception as single:
                with contextlib.suppress(asyncio.InvalidStateError):
                    future.set_exception(single)
                continue
            if not future.done():
                future.set_result((served, predictions, probabilities,
                                   cpu * 1000 / max(len(rows), 1)))
