"""Shadow deployment: the version behind alias ``shadow`` scores every request too, off
the request path, and its answers are logged beside the primary's.

The client only ever gets the primary's answer, and a request never waits for the
shadow: its rows go to a one-thread executor after the primary has answered; when the
shadow falls behind by more than ``max_pending_rows`` the excess is skipped and counted
(the primary's latency is not the price of an experiment). Shadow rows go to their own
log (``_shadow/NAME``) with the primary's prediction on the same request, so the
monitor compares the two on identical traffic and, once labels arrive, on identical
labeled requests, without touching the primary's figures.
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
from lockgate.serving.served_model import ServedModel, load_served

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
        self._pool.submit(self._score, rows, ids, primary.version, predictions, probabilities)

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
