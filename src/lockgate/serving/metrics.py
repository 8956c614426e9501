"""Serving metrics in the Prometheus text exposition format (version 0.0.4).

Written by hand rather than with prometheus_client: the server needs a handful of
counters and histograms with fixed labels, updated under one lock, and this keeps the
hot path to a few dict operations. Each worker process exposes its own figures.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections import defaultdict
from collections.abc import Iterable

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

    def _lines(self) -> list[str]:
        model = f'model="{_escape(self.model_name)}"'
        cpu = time.process_time() - self._cpu_start
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


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
