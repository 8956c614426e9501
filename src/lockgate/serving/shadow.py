"""Shadow deployment: the version behind alias ``shadow`` scores every request too, off
the request path, and its answers are logged beside the primary's.

The client only ever gets the primary's answer, and a request never waits for the
shadow: its rows go to a one-thread executor after the primary has answered; when the
shadow falls behind by more than ``max_pending_rows`` the excess is skipped and counted
(the primary's latency is not the price of an experiment). Shadow rows go to their own
log (``_shadow/NAME``) with the primary's prediction on the same request, so the
monitor compares the two on identical traffic and, once labels arrive, on identical
labeled requests, without touching the primary's figures.

A running server follows the alias (:class:`ShadowFollower`), as it follows its main
alias: pointing ``shadow`` at another version, or removing it, takes effect within a
poll, without a restart.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import polars as pl

from lockgate.config import Settings
from lockgate.location import StoragePath
from lockgate.registry import Registry
from lockgate.serving.prediction_log import DeltaAppender, prediction_schema
from lockgate.serving.served_model import AliasPoller, ServedModel, load_served

log = logging.getLogger("lockgate.serving")
SHADOW_ALIAS = "shadow"


def shadow_path(settings: Settings, model_name: str) -> StoragePath:
    """``<data_root>/_shadow/<model_name>``: the shadow version's log."""
    return settings.resolved_data_root / "_shadow" / model_name


def shadow_schema(served: ServedModel) -> dict[str, pl.DataType]:
    """The prediction log's columns plus the primary's answer on the same request."""
    schema = prediction_schema(served.package.contract, list(served.schema.features),
                               served.problem_type)
    schema["primary_version"] = pl.Int64()
    schema["primary_prediction"] = schema["prediction"]
    schema["primary_probability"] = pl.Float64()
    return schema


class ShadowScorer:
    """Scores requests with the shadow version on its own thread and logs both answers."""

    def __init__(self, served: ServedModel, settings: Settings, *, flush_seconds: float,
                 max_pending_rows: int = 10_000) -> None:
        self.served = served
        self.max_pending_rows = max_pending_rows
        self.pending = 0
        self.skipped = 0
        self.failures = 0
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shadow")
        self.log = DeltaAppender(shadow_path(settings, served.name), shadow_schema(served),
                                 flush_seconds=flush_seconds)

    @classmethod
    def for_model(cls, registry: Registry, name: str, primary: int, settings: Settings,
                  **options: Any) -> ShadowScorer | None:
        """The scorer of ``name@shadow``, or None when no other version holds the alias."""
        version = registry.alias_version(name, SHADOW_ALIAS)
        if version is None or version == primary:
            return None
        flush = options.pop("flush_seconds", 1.0)
        return cls(load_served(registry, name, version, **options), settings,
                   flush_seconds=flush)

    def submit(self, rows: list[dict[str, Any]], ids: list[str], primary: ServedModel,
               predictions: list[Any], probabilities: list[float | None]) -> None:
        """Queue the request's rows for the shadow (never blocks; skips when behind)."""
        with self._lock:
            if self.pending + len(rows) > self.max_pending_rows:
                self.skipped += len(rows)
                return
            self.pending += len(rows)
        try:
            self._pool.submit(self._score, rows, ids, primary.version, predictions,
                              probabilities)
        except RuntimeError:  # closed meanwhile: the follower replaced this shadow
            with self._lock:
                self.pending -= len(rows)
                self.skipped += len(rows)

    def close(self) -> None:
        """Score what is queued, then write every buffered row."""
        self._pool.shutdown(wait=True)
        self.log.close()

    def _score(self, rows: list[dict[str, Any]], ids: list[str], primary_version: int,
               predictions: list[Any], probabilities: list[float | None]) -> None:
        try:
            started = time.perf_counter()
            mine, proba, cpu = self.served.timed_predict(rows)
            share = (time.perf_counter() - started) * 1000 / len(rows)
            now = time.time()
            self.log.append([
                {**row, "request_id": rid, "timestamp": now, "model_name": self.served.name,
                 "model_version": self.served.version, "prediction": p, "probability": q,
                 "latency_ms": share, "request_latency_ms": share * len(rows),
                 "request_rows": len(rows), "cpu_ms": cpu * 1000 / len(rows),
                 "primary_version": primary_version, "primary_prediction": pp,
                 "primary_probability": pq}
                for row, rid, p, q, pp, pq in zip(rows, ids, mine, proba, predictions,
                                                  probabilities, strict=True)])
        except Exception as exc:  # the shadow must never hurt the primary
            self.failures += 1
            log.error("shadow v%s failed on a request: %s", self.served.version, exc)
        finally:
            with self._lock:
                self.pending -= len(rows)


class ShadowFollower(AliasPoller):
    """Polls ``NAME@shadow`` and installs, replaces or drops the server's shadow scorer
    when the alias moves.

    ``state`` is the server's state: it holds ``holder`` (the primary) and ``shadow``
    (the current :class:`ShadowScorer` or None). The new version is loaded and verified
    on this thread before it replaces the old one; the old scorer then finishes what it
    had queued and writes its log. A version that cannot load keeps the old shadow.
    """

    def __init__(self, registry: Registry, state: Any, settings: Settings, *,
                 poll_seconds: float, flush_seconds: float, **load_options: Any) -> None:
        super().__init__(SHADOW_ALIAS, poll_seconds, "shadow-follower")
        self.registry = registry
        self.state = state
        self.settings = settings
        self.flush_seconds = flush_seconds
        self.load_options = load_options

    def check(self) -> bool:
        """Follow the alias now; True when the shadow changed."""
        primary = self.state.holder.current
        version = self.registry.alias_version(primary.name, SHADOW_ALIAS)
        wanted = None if version in (None, primary.version) else version
        current = self.state.shadow
        if wanted == (current.served.version if current is not None else None):
            return False
        scorer = None if wanted is None else ShadowScorer(
            load_served(self.registry, primary.name, wanted, **self.load_options),
            self.settings, flush_seconds=self.flush_seconds)
        self.state.shadow = scorer
        log.warning("shadow of %s: %s", primary.name,
                    f"now v{wanted}" if wanted is not None else "none")
        if current is not None:
            current.close()
        return True
