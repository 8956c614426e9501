"""What one server process holds while it serves a model: the model and its alias
follower, the micro-batcher, the prediction and feedback logs, the metrics.

The app factory builds one :class:`ServingState` and keeps it on ``app.state``; routes
receive it through :func:`serving_state` (or :data:`ServingStateDep`), so a router can be
mounted alone on a bare app with a state of its own.
"""

from __future__ import annotations

import collections
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any, cast

import polars as pl
from fastapi import Depends, Request
from starlette.applications import Starlette

from lockgate.config import Settings
from lockgate.data.table import scan as scan_table
from lockgate.registry import Registry, parse_ref
from lockgate.serving.batcher import MicroBatcher
from lockgate.serving.config import ServeConfig
from lockgate.serving.metrics import MetricsShare, ServingMetrics
from lockgate.serving.prediction_log import (
    DeltaAppender,
    feedback_path,
    feedback_schema,
    prediction_schema,
    predictions_path,
)
from lockgate.serving.served_model import AliasFollower, ModelHolder, ServedModel, load_served
from lockgate.serving.shadow import ShadowFollower, ShadowScorer
from lockgate.store import Store

RECENT_IDS = 200_000
LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: The folder where the workers of one ``lockgate serve --workers N`` share metrics.
METRICS_DIR_ENV = "LOCKGATE_SERVE_METRICS_DIR"


class ServingState:
    """Everything one server process holds: model, batcher, logs, metrics."""

    def __init__(self, config: ServeConfig, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.registry = Registry(Store.open(settings), settings)
        name, selector = parse_ref(config.ref)
        self.alias = selector if isinstance(selector, str) else None
        version = self.registry.resolve(config.ref).version
        self.load_options: dict[str, Any] = {"allow_unknown_fields": config.allow_unknown_fields,
                             "max_batch_rows": config.max_batch_rows}
        served = load_served(self.registry, name, version, **self.load_options)
        self.holder = ModelHolder(served)
        self.metrics = ServingMetrics(name, _value_buckets(served))
        self.metrics.model_version = version
        self.batcher = MicroBatcher(self.holder, max_rows=config.micro_batch_rows,
                                    on_batch=self.metrics.observe_batch)
        self.follower: AliasFollower | None = None
        self.shadow_follower: ShadowFollower | None = None
        self.predictions: DeltaAppender | None = None
        self.feedback: DeltaAppender | None = None
        self.recent: collections.OrderedDict[str, None] = collections.OrderedDict()
        self.started_at = time.time()
        self.shadow = (ShadowScorer.for_model(
            self.registry, name, version, settings, flush_seconds=config.log_flush_seconds,
            **self.load_options) if config.shadow and config.log_predictions else None)
        shared = os.environ.get(METRICS_DIR_ENV)  # set by serve() for several workers
        self.share = MetricsShare(Path(shared), self.metrics) if shared else None

    def startup_line(self) -> str:
        """What an operator reads first: model, version, digest, address, auth mode."""
        served = self.holder.current
        digest = self.registry.get(served.name, served.version).package_sha256
        auth = ("bearer token" if self.config.token else
                "none (loopback only)" if self.config.host in LOOPBACK else
                "NONE (--insecure: anyone who can reach it)")
        follows = f"@{self.alias}" if self.alias else ""
        return (f"lockgate serve: {served.name}{follows} v{served.version} (package sha256 "
                f"{digest[:12]}) on http://{self.config.host}:{self.config.port} "
                f"[pid {os.getpid()}]; auth: {auth}; prediction log: "
                f"{'on' if self.config.log_predictions else 'OFF'}"
                + (f"; shadow: v{self.shadow.served.version}" if self.shadow else ""))

    def shutdown_line(self) -> str:
        """The last line: what this process served, and that nothing is left unwritten."""
        served = self.holder.current
        log = self.predictions
        written = f"{log.rows_written} rows written, {log.pending} pending" if log else "off"
        return (f"lockgate serve: stopped {served.name} v{served.version} [pid {os.getpid()}] "
                f"after {self.metrics.predictions} predictions in "
                f"{time.time() - self.started_at:.0f} s; prediction log {written}")

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count a finished request (metrics) and print its access-log line if asked."""
        self.metrics.observe_request(route, method, status, seconds)
        if self.config.access_log:
            _say(f"{method} {route} {status} {seconds * 1000:.1f} ms")

    async def start(self) -> None:
        """Start the batcher, the log writers and the alias follower."""
        if self.config.announce:
            _say(self.startup_line())
        served = self.holder.current
        if self.config.log_predictions:
            self.predictions = self._appender(served)
        self.feedback = DeltaAppender(
            feedback_path(self.settings, served.name), feedback_schema(served.problem_type),
            flush_seconds=self.config.log_flush_seconds, max_rows=self.config.log_max_rows)
        self.batcher.start()
        self.metrics.reset_cpu()
        if self.share is not None:
            self.share.start()
        if self.config.shadow and self.config.log_predictions:
            self.shadow_follower = ShadowFollower(
                self.registry, self, self.settings, poll_seconds=self.config.poll_seconds,
                flush_seconds=self.config.log_flush_seconds, **self.load_options)
            self.shadow_follower.start()
        if self.alias is not None:
            self.follower = AliasFollower(self.registry, self.holder, self.alias,
                                          poll_seconds=self.config.poll_seconds,
                                          on_swap=self._on_swap, **self.load_options)
            self.follower.start()

    async def stop(self) -> None:
        """Graceful shutdown: answer queued requests, then write every buffered row."""
        if self.follower is not None:
            self.follower.stop()
        if self.shadow_follower is not None:
            self.shadow_follower.stop()
        await self.batcher.stop()
        if self.shadow is not None:
            self.shadow.close()
        for appender in (self.predictions, self.feedback):
            if appender is not None:
                appender.close()
        if self.share is not None:
            self._log_figures()
            self.share.stop()
        if self.config.announce:
            _say(self.shutdown_line())

    def _appender(self, served: ServedModel) -> DeltaAppender:
        schema = prediction_schema(served.package.contract, list(served.schema.features),
                                   served.problem_type)
        return DeltaAppender(predictions_path(self.settings, served.name), schema,
                             flush_seconds=self.config.log_flush_seconds,
                             max_rows=self.config.log_max_rows)

    def _on_swap(self, served: ServedModel) -> None:
        self.metrics.model_version = served.version
        self.metrics.swaps += 1
        if self.predictions is not None:
            self.predictions.schema = prediction_schema(
                served.package.contract, list(served.schema.features), served.problem_type)

    def _log_figures(self) -> None:
        log = self.predictions
        if log is not None:
            self.metrics.log_pending = log.pending
            self.metrics.log_rows_written = log.rows_written
            self.metrics.log_write_errors = log.write_errors

    def render_metrics(self) -> str:
        """Prometheus text: this process's figures, or every worker's summed."""
        self._log_figures()
        return self.share.render() if self.share is not None else self.metrics.render()

    def remember(self, request_ids: list[str]) -> None:
        """Keep recent request ids so feedback can be checked without reading Delta."""
        for request_id in request_ids:
            self.recent[request_id] = None
        while len(self.recent) > RECENT_IDS:
            self.recent.popitem(last=False)

    def unlogged(self, request_ids: list[str]) -> list[str]:
        """The ids not in this model's prediction log, found in one scan (not one per id).
        Blocking I/O: call it off the event loop, for ids not among ``recent``."""
        path = predictions_path(self.settings, self.holder.current.name)
        if not request_ids or not (path / "_delta_log").is_dir():
            return request_ids
        found = set(scan_table(path).filter(pl.col("request_id").is_in(request_ids))
                    .select("request_id").collect().get_column("request_id").to_list())
        return [rid for rid in request_ids if rid not in found]

    def attach(self, app: Starlette) -> None:
        """Make this the state every route of ``app`` (a FastAPI app) receives."""
        app.state.serving = self


def serving_state(request: Request) -> ServingState:
    """The state of the app that received ``request``. A plain function of the request,
    so ``POST /predict``'s fast path (which calls its endpoint without FastAPI's
    dependency solving) reads it the same way as routes that declare
    :data:`ServingStateDep`."""
    return cast(ServingState, request.app.state.serving)


async def _state_dependency(request: Request) -> ServingState:
    return serving_state(request)


#: A route parameter annotated with this receives the app's :class:`ServingState`.
ServingStateDep = Annotated[ServingState, Depends(_state_dependency)]


def _say(line: str) -> None:
    """Operator output: one line on stderr, flushed (a worker process may die next)."""
    print(line, file=sys.stderr, flush=True)


def _value_buckets(served: ServedModel) -> list[float]:
    """Regression value buckets: deciles of the holdout target, when the package has it."""
    if served.is_classifier:
        return []
    holdout = served.package.holdout()
    target = served.package.contract.target
    if holdout is not None and target in holdout.columns:
        values = holdout[target].drop_nulls().cast(pl.Float64)
        quantiles = sorted({float(values.quantile(q / 10)) for q in range(1, 10)})
        if quantiles:
            return quantiles
    return [-100.0, -10.0, -1.0, 0.0, 1.0, 10.0, 100.0, 1000.0]
