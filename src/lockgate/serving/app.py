"""The prediction API: FastAPI app over one registered model.

``POST /predict`` (one record or ``{"records": [...]}``), ``POST /feedback``,
``GET /health``, ``GET /model``, ``GET /metrics`` (Prometheus) and the OpenAPI docs.
The request schema is generated from the model's contract; every prediction goes to
the prediction log (Delta, written in micro-batches off the request path); the served
version follows its alias.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import ValidationError

from lockgate.config import Settings, load_settings
from lockgate.data.table import scan as scan_table
from lockgate.registry import Registry, parse_ref
from lockgate.security import HttpGuard
from lockgate.serving.batcher import MicroBatcher
from lockgate.serving.config import ServeConfig
from lockgate.serving.feedback import check_items
from lockgate.serving.metrics import MetricsShare, ServingMetrics
from lockgate.serving.prediction_log import (
    DeltaAppender,
    feedback_path,
    feedback_schema,
    prediction_schema,
    predictions_path,
)
from lockgate.serving.request_schema import field_errors
from lockgate.serving.security import serve_policy
from lockgate.serving.served_model import AliasFollower, ModelHolder, ServedModel, load_served
from lockgate.serving.shadow import ShadowFollower, ShadowScorer
from lockgate.store import Store

ROUTES = {"/predict", "/feedback", "/health", "/model", "/metrics", "/openapi.json", "/docs"}
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


def create_app(config: ServeConfig, settings: Settings | None = None) -> FastAPI:
    """Build the app for ``config.ref``; the model is loaded and verified here.

    Raises:
        ModelNotFoundError: the reference names no version.
        PackageError: the package fails verification.
    """
    state = ServingState(config, settings or load_settings())

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await state.start()
        try:
            yield
        finally:
            await state.stop()

    app = FastAPI(title=f"lockgate: {state.holder.current.name}", lifespan=lifespan,
                  version=str(state.holder.current.version))
    app.state.serving = state
    _routes(app, state)
    app.openapi = lambda: _openapi(app, state)  # type: ignore[method-assign]
    app.add_middleware(PredictFastPath, endpoint=next(
        getattr(route, "endpoint") for route in app.routes  # noqa: B009 (BaseRoute has none)
        if getattr(route, "path", "") == "/predict"))
    app.add_middleware(HttpGuard, policy=serve_policy(config, state.settings),
                       observe=lambda path, method, status, seconds: state.observe_request(
                           path if path in ROUTES else "other", method, status, seconds))
    app.add_middleware(ModelHeaders, state=state)
    return app


class PredictFastPath:
    """``POST /predict`` straight to its endpoint, inside the guard and the model headers.

    Why: with micro-batching the model's share of a single-row request is small, and
    FastAPI's routing, dependency solving, exception middleware and exit stacks were a
    quarter of the server's CPU per request (py-spy, concurrency 16). The endpoint is the
    same function FastAPI routes to (it takes the raw ``Request`` and builds its own
    response), so behaviour, refusals and the OpenAPI route are unchanged; an unexpected
    error still reaches Starlette's outermost error middleware (500).
    """

    def __init__(self, app: Any, *, endpoint: Any) -> None:
        self.app = app
        self.endpoint = endpoint

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/predict" \
                and scope["method"] == "POST" and not scope.get("root_path"):
            response = await self.endpoint(Request(scope, receive))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class ModelHeaders:
    """Every response, refusals included, names the version served and its package digest
    (``X-Lockgate-Model: churn@3``, ``X-Lockgate-Model-Digest: sha256:...``)."""

    def __init__(self, app: Any, *, state: ServingState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        served = self.state.holder.current

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-lockgate-model", f"{served.name}@{served.version}".encode()),
                    (b"x-lockgate-model-digest", f"sha256:{served.digest}".encode())]
            await send(message)

        await self.app(scope, receive, with_headers)


def _routes(app: FastAPI, state: ServingState) -> None:
    @app.post("/predict", openapi_extra={"requestBody": _body_ref("PredictRequest")},
              responses={200: {"description": "Predictions"},
                         422: {"description": "Per-field validation errors"},
                         413: {"description": "Body too large"},
                         415: {"description": "Body is not JSON"}})
    async def predict(request: Request) -> JSONResponse:
        """Predict one record, or a batch sent as ``{"records": [...]}``."""
        received = time.perf_counter()
        served = state.holder.current
        payload = _decode(await request.body())
        if isinstance(payload, JSONResponse):
            return payload
        try:
            rows, is_batch = served.schema.parse(payload)
        except ValidationError as exc:
            return _unprocessable(field_errors(exc))
        try:
            served, predictions, probabilities, cpu_ms = await state.batcher.predict(rows)
        except Exception as exc:  # the contract accepted it but the model cannot score it
            return JSONResponse(status_code=500, content={"detail": (
                f"Model {served.name}@{served.version} failed on this input: "
                f"{type(exc).__name__}: {str(exc)[:300]}")})
        latency_ms = (time.perf_counter() - received) * 1000
        given = request.headers.get("x-request-id")
        ids = _request_ids(len(rows), given if not is_batch else None)
        _record(state, served, rows, ids, predictions, probabilities,
                Cost(latency_ms, cpu_ms))
        items = [{"request_id": rid, "prediction": p, "probability": q}
                 for rid, p, q in zip(ids, predictions, probabilities, strict=True)]
        body: dict[str, Any] = {"model_name": served.name, "model_version": served.version,
                                "model_digest": f"sha256:{served.digest}",
                                "latency_ms": latency_ms}
        body.update({"predictions": items} if is_batch else items[0])
        return JSONResponse(body)

    @app.post("/feedback", openapi_extra={"requestBody": _body_ref("FeedbackRequest")},
              responses={200: {"description": "Stored"}, 404: {"description": "Unknown id"},
                         422: {"description": "Per-field validation errors"},
                         413: {"description": "Body too large"},
                         415: {"description": "Body is not JSON"}})
    async def feedback(request: Request) -> JSONResponse:
        """Ground truth for earlier predictions, joined to them by ``request_id``; labels
        are checked against the target (type, classes, range); the latest label per
        request_id wins."""
        payload = _decode(await request.body())
        if isinstance(payload, JSONResponse):
            return payload
        served = state.holder.current
        many = isinstance(payload, dict) and "items" in payload
        items = payload["items"] if many else [payload]
        if not isinstance(items, list) or not items or len(items) > served.schema.max_batch_rows:
            return _unprocessable([{"field": "items", "type": "list_type", "message":
                                    "`items` must be a list of 1 to "
                                    f"{served.schema.max_batch_rows} feedback objects"}])
        errors, parsed = [], []
        for i, item in enumerate(items):
            try:
                parsed.append(served.schema.feedback.model_validate(item))
            except ValidationError as exc:
                prefix = f"items.{i}." if many else ""
                errors += [{**e, "field": prefix + e["field"]} for e in field_errors(exc)]
        if errors:
            return _unprocessable(errors)
        assert served.label_rule is not None
        dumped = [p.model_dump() for p in parsed]
        checked, errors = check_items(served.label_rule, dumped, many=many)
        if errors:
            return _unprocessable(errors)
        missing = [d["request_id"] for d in dumped if d["request_id"] not in state.recent]
        unknown = await asyncio.to_thread(state.unlogged, missing) if missing else []
        if unknown:
            return JSONResponse(status_code=404, content={"detail": (
                f"Unknown request_id(s) {unknown[:5]}: no prediction of `{served.name}` has "
                "that id. Send the `request_id` returned by POST /predict.")})
        now = time.time()
        assert state.feedback is not None
        state.feedback.append([{**item, "timestamp": now} for item in checked])
        return JSONResponse({"accepted": len(checked)})

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Liveness and the version being served (no token needed); ``degraded`` with the
        reason when the alias moved but the new version could not be loaded."""
        served = state.holder.current
        error = state.follower.last_error if state.follower else None
        body = {"status": "degraded" if error else "ok", "model_name": served.name,
                "model_version": served.version, "model_digest": f"sha256:{served.digest}",
                "uptime_seconds": time.time() - state.started_at}
        if error:
            body["reason"] = (f"alias `{state.alias}` moved but the new version could not be "
                              f"served, still serving v{served.version}: {error[:300]}")
        return body

    @app.get("/model")
    async def model() -> dict[str, Any]:
        """The served version: lineage, evaluation, contract, model card, alias."""
        served = state.holder.current
        package = served.package
        return {"model_name": served.name, "model_version": served.version,
                "model_digest": f"sha256:{served.digest}", "alias": state.alias,
                "problem_type": served.problem_type,
                "features": list(served.schema.features), "lineage": package.lineage,
                "metrics": package.evaluation.get("metrics", {}),
                "environment": package.environment, "contract": package.contract.to_dict(),
                "model_card": package.model_card,
                "follower_error": state.follower.last_error if state.follower else None,
                "shadow_version": state.shadow.served.version if state.shadow else None}

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> PlainTextResponse:
        """Prometheus exposition text (every worker's figures with --workers > 1)."""
        return PlainTextResponse(state.render_metrics(),
                                 media_type="text/plain; version=0.0.4; charset=utf-8")


@dataclass(frozen=True, slots=True)
class Cost:
    """What one request cost: its wall latency and its model call's CPU time per row."""

    latency_ms: float
    cpu_ms_per_row: float


def _record(state: ServingState, served: ServedModel, rows: list[dict[str, Any]],
            ids: list[str], predictions: list[Any], probabilities: list[float | None],
            cost: Cost) -> None:
    now = time.time()
    if state.predictions is not None:
        # the request's latency is shared by its rows: a 100-row request of 600 ms is
        # 6 ms per prediction, and the sum over rows is still the request's 600 ms
        share = cost.latency_ms / len(rows)
        state.predictions.append([
            {**row, "request_id": rid, "timestamp": now, "model_name": served.name,
             "model_version": served.version, "prediction": p, "probability": q,
             "latency_ms": share, "request_latency_ms": cost.latency_ms,
             "request_rows": len(rows), "cpu_ms": cost.cpu_ms_per_row}
            for row, rid, p, q in zip(rows, ids, predictions, probabilities, strict=True)])
    state.remember(ids)
    shadow = state.shadow  # one read: the follower may replace it meanwhile
    if shadow is not None and shadow.served.version != served.version:
        # scored after this answer, on the shadow's own thread
        shadow.submit(rows, ids, served, predictions, probabilities)
    if served.is_classifier:
        state.metrics.observe_predictions(served.version, predictions, None)
    else:
        state.metrics.observe_predictions(served.version, None, predictions)


def _say(line: str) -> None:
    """Operator output: one line on stderr, flushed (a worker process may die next)."""
    print(line, file=sys.stderr, flush=True)


def _request_ids(count: int, given: str | None) -> list[str]:
    if given and count == 1 and 0 < len(given) <= 128 and all(
            c.isalnum() or c in "_.:-" for c in given):
        return [given]
    base = uuid.uuid4().hex
    return [base] if count == 1 else [f"{base}-{i}" for i in range(count)]


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        return _unprocessable([{"field": "body", "type": "json_invalid",
                                "message": f"The body is not valid JSON: {exc}"}])


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _unprocessable(errors: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse(status_code=422, content={"detail": errors})


def _body_ref(name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{name}"}}}}


def _openapi(app: FastAPI, state: ServingState) -> dict[str, Any]:
    """OpenAPI with the request bodies generated from the current version's contract."""
    served = state.holder.current
    if app.openapi_schema and app.openapi_schema.get("info", {}).get("version") == str(
            served.version):
        return app.openapi_schema
    spec = get_openapi(title=app.title, version=str(served.version), routes=app.routes)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    template = "#/components/schemas/{model}"
    for model in (served.schema.record, served.schema.batch, served.schema.feedback):
        generated = model.model_json_schema(ref_template=template)
        schemas.update(generated.pop("$defs", {}))
        schemas[model.__name__] = generated
    record, batch = served.schema.record.__name__, served.schema.batch.__name__
    schemas["PredictRequest"] = {"anyOf": [{"$ref": template.format(model=batch)},
                                           {"$ref": template.format(model=record)}]}
    feedback = served.schema.feedback.__name__
    schemas["FeedbackRequest"] = {"anyOf": [
        {"$ref": template.format(model=feedback)},
        {"type": "object", "additionalProperties": False, "required": ["items"],
         "properties": {"items": {"type": "array", "minItems": 1,
                                  "maxItems": served.schema.max_batch_rows,
                                  "items": {"$ref": template.format(model=feedback)}}}}]}
    app.openapi_schema = spec
    return spec


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
