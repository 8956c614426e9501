"""Serving metrics in the Prometheus text exposition format (version 0.0.4).

Written by hand rather than with prometheus_client: the server needs a handful of
counters and histograms with fixed labels, updated under one lock, and this keeps the
hot path to a few dict operations.

With several worker processes (``lockgate serve --workers N``) every worker publishes a
snapshot of its figures to a shared folder once a second (:class:`MetricsShare`) and
``/metrics`` answers with the sum over all workers, whichever worker takes the scrape;
counters of a worker that exited stay counted, as Prometheus' multiprocess mode does.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import math
import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Histogram:
    """Cumulative-bucket histogram."""

    def __init__(self, buckets: Iterable[float]) -> None:
        self.bounds = tuple(sorted(buckets))
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        """Count one observation."""
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1

    def state(self) -> dict[str, Any]:
        """JSON-able counts (for a worker's snapshot)."""
        return {"bounds": list(self.bounds), "counts": list(self.counts),
                "total": self.total, "count": self.count}

    def add(self, state: dict[str, Any]) -> None:
        """Add another process's counts (same bounds)."""
        self.counts = [a + int(b) for a, b in zip(self.counts, state["counts"], strict=True)]
        self.total += float(state["total"])
        self.count += int(state["count"])

    def lines(self, name: str, labels: str) -> list[str]:
        """Exposition lines: ``_bucket`` (cumulative), ``_sum``, ``_count``."""
        sep = "," if labels else ""
        out, running = [], 0
        for bound, count in zip((*self.bounds, math.inf), self.counts, strict=True):
            running += count
            le = "+Inf" if bound == math.inf else repr(float(bound))
            out.append(f'{name}_bucket{{{labels}{sep}le="{le}"}} {running}')
        out.append(f"{name}_sum{{{labels}}} {self.total}")
        out.append(f"{name}_count{{{labels}}} {self.count}")
        return out


class ServingMetrics:
    """Counters and histograms of one serving process."""

    def __init__(self, model_name: str, value_buckets: Iterable[float] | None = None) -> None:
        self.model_name = model_name
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.latency: dict[str, Histogram] = {}
        self.predictions_by_class: dict[tuple[int, str], int] = defaultdict(int)
        self.value_buckets = tuple(value_buckets or ())
        self.prediction_values: dict[int, Histogram] = {}
        self.batch_sizes = Histogram(BATCH_BUCKETS)
        self.predictions = 0
        self.model_version = 0
        self.swaps = 0
        self.log_pending = 0
        self.log_rows_written = 0
        self.log_write_errors = 0
        self._cpu_start = time.process_time()
        self._started = time.time()
        self._cpu_seconds: float | None = None  # set on a merged (all-workers) view

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count a finished request and its latency."""
        with self._lock:
            self.requests[(route, method, status)] += 1
            histogram = self.latency.get(route)
            if histogram is None:
                histogram = self.latency[route] = Histogram(LATENCY_BUCKETS)
            histogram.observe(seconds)

    def observe_predictions(self, version: int, labels: list[str] | None,
                            values: list[float] | None) -> None:
        """Count predictions by class (classification) or value bucket (regression)."""
        with self._lock:
            if labels is not None:
                self.predictions += len(labels)
                for label in labels:
                    self.predictions_by_class[(version, label)] += 1
            if values is not None:
                self.predictions += len(values)
                histogram = self.prediction_values.get(version)
                if histogram is None:
                    histogram = self.prediction_values[version] = Histogram(self.value_buckets)
                for value in values:
                    histogram.observe(value)

    def reset_cpu(self) -> None:
        """Start the CPU cost clock now (when the server starts taking requests)."""
        self._cpu_start = time.process_time()

    def observe_batch(self, rows: int) -> None:
        """Size of one model call (after adaptive micro-batching)."""
        with self._lock:
            self.batch_sizes.observe(rows)

    def render(self) -> str:
        """The Prometheus exposition text."""
        with self._lock:
            return "\n".join(self._lines()) + "\n"

    def snapshot(self) -> dict[str, Any]:
        """This process's figures as JSON-able data (what a worker publishes)."""
        with self._lock:
            return {
                "requests": [[r, m, st, n] for (r, m, st), n in self.requests.items()],
                "latency": {r: h.state() for r, h in self.latency.items()},
                "classes": [[v, c, n] for (v, c), n in self.predictions_by_class.items()],
                "values": {str(v): h.state() for v, h in self.prediction_values.items()},
                "batch_sizes": self.batch_sizes.state(), "predictions": self.predictions,
                "model_version": self.model_version, "swaps": self.swaps,
                "log_pending": self.log_pending, "log_rows_written": self.log_rows_written,
                "log_write_errors": self.log_write_errors,
                "cpu_seconds": time.process_time() - self._cpu_start,
            }

    @classmethod
    def merged(cls, model_name: str, value_buckets: Iterable[float],
               snapshots: Iterable[dict[str, Any]]) -> ServingMetrics:
        """One view of several workers' snapshots: counters and histograms summed, the
        served version the highest seen (a swap reaches workers a poll apart)."""
        out = cls(model_name, value_buckets)
        out._cpu_seconds = 0.0
        for snap in snapshots:
            for route, method, status, n in snap["requests"]:
                out.requests[(route, method, int(status))] += int(n)
            for route, state in snap["latency"].items():
                out.latency.setdefault(route, Histogram(state["bounds"])).add(state)
            for version, label, n in snap["classes"]:
                out.predictions_by_class[(int(version), str(label))] += int(n)
            for version, state in snap["values"].items():
                out.prediction_values.setdefault(int(version),
                                                 Histogram(state["bounds"])).add(state)
            out.batch_sizes.add(snap["batch_sizes"])
            out.predictions += int(snap["predictions"])
            out.model_version = max(out.model_version, int(snap["model_version"]))
            out.swaps += int(snap["swaps"])
            out.log_pending += int(snap["log_pending"])
            out.log_rows_written += int(snap["log_rows_written"])
            out.log_write_errors += int(snap["log_write_errors"])
            out._cpu_seconds += float(snap["cpu_seconds"])
        return out

    def _lines(self) -> list[str]:
        model = f'model="{_escape(self.model_name)}"'
        cpu = (self._cpu_seconds if self._cpu_seconds is not None
               else time.process_time() - self._cpu_start)
        per_1k = cpu / self.predictions * 1000 if self.predictions else 0.0
        out = [
            "# HELP lockgate_requests_total HTTP requests by route, method and status.",
            "# TYPE lockgate_requests_total counter",
            *(f'lockgate_requests_total{{{model},route="{r}",method="{m}",status="{s}"}} {n}'
              for (r, m, s), n in sorted(self.requests.items())),
            "# HELP lockgate_request_errors_total Requests answered with status >= 400.",
            "# TYPE lockgate_request_errors_total counter",
            *(f'lockgate_request_errors_total{{{model},route="{r}",status="{s}"}} {n}'
              for (r, _m, s), n in sorted(self.requests.items()) if s >= 400),
            "# HELP lockgate_request_latency_seconds Request latency by route.",
            "# TYPE lockgate_request_latency_seconds histogram",
        ]
        for route, histogram in sorted(self.latency.items()):
            out += histogram.lines("lockgate_request_latency_seconds", f'{model},route="{route}"')
        out += ["# HELP lockgate_predictions_total Predictions by model version and class.",
                "# TYPE lockgate_predictions_total counter",
                *(f'lockgate_predictions_total{{{model},version="{v}",class="{_escape(c)}"}} {n}'
                  for (v, c), n in sorted(self.predictions_by_class.items()))]
        if self.prediction_values:
            out += ["# HELP lockgate_prediction_value Predicted values (regression) by bucket.",
                    "# TYPE lockgate_prediction_value histogram"]
            for version, histogram in sorted(self.prediction_values.items()):
                out += histogram.lines("lockgate_prediction_value", f'{model},version="{version}"')
        out += ["# HELP lockgate_batch_rows Rows per model call after micro-batching.",
                "# TYPE lockgate_batch_rows histogram",
                *self.batch_sizes.lines("lockgate_batch_rows", model),
                "# HELP lockgate_cpu_seconds_per_1k_predictions Process CPU seconds per 1,000 "
                "predictions since start (the cost figure).",
                "# TYPE lockgate_cpu_seconds_per_1k_predictions gauge",
                f"lockgate_cpu_seconds_per_1k_predictions{{{model}}} {per_1k}",
                "# HELP process_cpu_seconds_total CPU seconds used by this process since start.",
                "# TYPE process_cpu_seconds_total counter",
                f"process_cpu_seconds_total {cpu}",
                "# HELP lockgate_model_version Version currently served.",
                "# TYPE lockgate_model_version gauge",
                f"lockgate_model_version{{{model}}} {self.model_version}",
                "# HELP lockgate_model_swaps_total Times a new version was swapped in.",
                "# TYPE lockgate_model_swaps_total counter",
                f"lockgate_model_swaps_total{{{model}}} {self.swaps}",
                "# HELP lockgate_prediction_log_pending_rows Rows buffered, not yet in Delta.",
                "# TYPE lockgate_prediction_log_pending_rows gauge",
                f"lockgate_prediction_log_pending_rows{{{model}}} {self.log_pending}",
                "# HELP lockgate_prediction_log_rows_written_total Rows written to Delta.",
                "# TYPE lockgate_prediction_log_rows_written_total counter",
                f"lockgate_prediction_log_rows_written_total{{{model}}} {self.log_rows_written}",
                "# HELP lockgate_prediction_log_write_errors_total Failed (retried) writes.",
                "# TYPE lockgate_prediction_log_write_errors_total counter",
                f"lockgate_prediction_log_write_errors_total{{{model}}} {self.log_write_errors}"]
        return out


class MetricsShare:
    """The folder where the workers of one server publish their snapshots.

    Each worker writes ``<pid>.json`` (atomically: a temporary file renamed) every
    ``seconds`` and at shutdown; a scrape merges every file, replacing the answering
    worker's own file with its live figures.
    """

    def __init__(self, folder: Path, metrics: ServingMetrics, *, seconds: float = 1.0) -> None:
        self.folder = folder
        self.metrics = metrics
        self.seconds = seconds
        self._mine = folder / f"{os.getpid()}.json"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="metrics-share", daemon=True)

    def start(self) -> None:
        """Publish now and then every ``seconds``."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.publish()
        self._thread.start()

    def stop(self) -> None:
        """Publish the final figures and stop."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.publish()

    def publish(self) -> None:
        """Write this worker's snapshot."""
        partial = self._mine.with_suffix(".tmp")
        partial.write_text(json.dumps(self.metrics.snapshot()), encoding="utf-8")
        partial.replace(self._mine)

    def render(self) -> str:
        """Exposition text of every worker together."""
        snapshots = [self.metrics.snapshot()]
        for path in sorted(self.folder.glob("*.json")):
            if path != self._mine:
                with contextlib.suppress(OSError, ValueError):  # a file being replaced
                    snapshots.append(json.loads(path.read_text(encoding="utf-8")))
        merged = ServingMetrics.merged(self.metrics.model_name, self.metrics.value_buckets,
                                       snapshots)
        return merged.render()

    def _loop(self) -> None:
        while not self._stop.wait(self.seconds):
            with contextlib.suppress(OSError):
                self.publish()


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
