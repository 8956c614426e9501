"""The prediction API: the routers of :mod:`lockgate.serving.routes` over one registered
model, composed behind the shared guard.

``POST /predict`` (one record or ``{"records": [...]}``), ``POST /feedback``,
``GET /health``, ``GET /model``, ``GET /metrics`` (Prometheus) and the OpenAPI docs.
The request schema is generated from the model's contract; every prediction goes to
the prediction log (Delta, written in micro-batches off the request path); the served
version follows its alias.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.utils import get_openapi

from lockgate.config import Settings, load_settings
from lockgate.security import HttpGuard
from lockgate.serving.config import ServeConfig
from lockgate.serving.routes import feedback, metrics, predict, status
from lockgate.serving.security import serve_policy
from lockgate.serving.state import ServingState

ROUTES = {"/predict", "/feedback", "/health", "/model", "/metrics", "/openapi.json", "/docs"}
#: Every router of the prediction API.
ROUTERS: tuple[APIRouter, ...] = (predict.router, feedback.router, status.router,
                                  metrics.router)


def create_serving_app(config: ServeConfig, settings: Settings | None = None) -> FastAPI:
    """Build the app for ``config.ref``; the model is loaded and verified here.

    Raises:
        ModelNotFoundError: the reference names no version.
        PackageError: the package fails verification.
    """
    state = ServingState(config, settings or load_settings())
    app = FastAPI(title=f"lockgate: {state.holder.current.name}", lifespan=lifespan,
                  version=str(state.holder.current.version))
    state.attach(app)
    for router in ROUTERS:
        app.include_router(router)
    app.openapi = lambda: _openapi(app, state)  # type: ignore[method-assign]
    app.add_middleware(PredictFastPath, endpoint=predict.predict)
    app.add_middleware(HttpGuard, policy=serve_policy(config, state.settings),
                       observe=lambda path, method, status, seconds: state.observe_request(
                           path if path in ROUTES else "other", method, status, seconds))
    app.add_middleware(ModelHeaders, state=state)
    return app


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the app's :class:`ServingState` before the first request; on shutdown,
    answer what is queued and write every buffered row."""
    state: ServingState = app.state.serving
    await state.start()
    try:
        yield
    finally:
        await state.stop()


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
