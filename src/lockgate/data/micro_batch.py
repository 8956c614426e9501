"""Micro-batches of small requests: the HTTP endpoint merges the records that arrive for
a table within a bounded delay into one batch, so a busy endpoint makes one Delta
version per window instead of one per request.

Each request still gets its own answer (its rows accepted, quarantined, skipped as
copies, with their reasons) and the same guarantees: the batch lands atomically or not
at all. If the merged batch is refused (a schema change under ``fail`` in one request,
say), it is split in halves until the bad request is alone, so one bad request never
fails its neighbours and costs a few extra versions, not one per request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lockgate.data.ingestion import IngestResult
from lockgate.errors import ConfigError

Lander = Callable[[list[Mapping[str, Any]]], IngestResult]


@dataclass(frozen=True, slots=True)
class Share:
    """One request's part of a merged batch."""

    result: IngestResult
    offset: int
    rows: int

    def to_dict(self) -> dict[str, Any]:
        """The request's answer: its own counts and reasons, plus the batch it landed in."""
        base = self.result.to_dict()
        if not self.result.created:  # the very same records had landed: all handled
            return {**base, "ingested": 0, "accepted": 0, "quarantined": 0,
                    "deduplicated": self.rows, "reasons": {}, "rows": []}
        end = self.offset + self.rows
        own = [(r - self.offset, codes) for r, codes in self.result.row_reasons
               if self.offset <= r < end]
        copies = sum(1 for r in self.result.copy_rows if self.offset <= r < end)
        reasons: dict[str, int] = {}
        for _, codes in own:
            for code in codes:
                code = code.split("#", 1)[0]
                reasons[code] = reasons.get(code, 0) + 1
        return {**base, "ingested": self.rows - copies, "accepted": self.rows - copies - len(own),
                "quarantined": len(own), "deduplicated": copies, "reasons": reasons,
                "rows": [{"row": r, "reasons": list(c)} for r, c in own],
                "batch": {k: base[k] for k in ("ingested", "accepted", "quarantined",
                                               "batch_id")}}


@dataclass(slots=True)
class _Window:
    deadline: float
    parts: list[list[Mapping[str, Any]]] = field(default_factory=list)
    rows: int = 0
    done: threading.Event = field(default_factory=threading.Event)
    shares: list[Share | BaseException] = field(default_factory=list)


class MicroBatcher:
    """Merges the requests of one table arriving within ``max_seconds`` (or until
    ``max_rows``) into one landing. Thread-safe; one instance per table.

    Args:
        land: lands a list of records as one batch.
        max_seconds: the longest a request waits for others (its added latency).
        max_rows: a window closes early when it holds this many rows.
    """

    def __init__(self, land: Lander, max_seconds: float = 0.2, max_rows: int = 10_000) -> None:
        if not max_seconds >= 0 or max_rows < 1:
            raise ConfigError(f"Micro-batch bounds must be >= 0 s and >= 1 row, got "
                              f"{max_seconds} s and {max_rows} rows.")
        self._land = land
        self.max_seconds = max_seconds
        self.max_rows = max_rows
        self._lock = threading.Condition()
        self._open: _Window | None = None
        self._landing = threading.Lock()  # one landing at a time: duplicate checks see all

    def submit(self, records: Sequence[Mapping[str, Any]]) -> Share:
        """Add a request's records; return its share once its window landed.

        Raises:
            Exception: whatever landing the request on its own raised.
        """
        with self._lock:
            window = self._open
            leader = window is None
            if window is None:
                window = self._open = _Window(time.monotonic() + self.max_seconds)
            index = len(window.parts)
            window.parts.append(list(records))
            window.rows += len(records)
            if window.rows >= self.max_rows:
                self._open = None
                self._lock.notify_all()
        if leader:
            self._lead(window)
        window.done.wait()
        share = window.shares[index]
        if isinstance(share, BaseException):
            raise share
        return share

    def _lead(self, window: _Window) -> None:
        with self._lock:
            while self._open is window and time.monotonic() < window.deadline:
                self._lock.wait(max(0.0, window.deadline - time.monotonic()))
            if self._open is window:
                self._open = None
        try:
            with self._landing:
                window.shares = self._land_window(window.parts)
        finally:
            window.done.set()

    def _land_window(self, parts: list[list[Mapping[str, Any]]]) -> list[Share | BaseException]:
        """Land the window's requests as one batch; if that is refused, split it in
        halves and land each (recursively), so a bad request ends alone in a few
        landings while the others still land together."""
        merged = [record for part in parts for record in part]
        try:
            result = self._land(merged)
        except Exception as exc:  # each half then lands, or fails, on its own
            if len(parts) == 1:
                return [exc]
            half = len(parts) // 2
            return self._land_window(parts[:half]) + self._land_window(parts[half:])
        shares: list[Share | BaseException] = []
        offset = 0
        for part in parts:
            shares.append(Share(result, offset, len(part)))
            offset += len(part)
        return shares
