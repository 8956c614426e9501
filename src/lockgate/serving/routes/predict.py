"""``POST /predict``: one record or ``{"records": [...]}``, scored through the
micro-batcher, logged to the prediction log, counted in the metrics, mirrored to the
shadow model."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from lockgate.serving.request_schema import field_errors
from lockgate.serving.routes.json_body import body_ref, decode, unprocessable
from lockgate.serving.served_model import ServedModel
from lockgate.serving.state import ServingState, serving_state

router = APIRouter()


@router.post("/predict", openapi_extra={"requestBody": body_ref("PredictRequest")},
             responses={200: {"description": "Predictions"},
                        422: {"description": "Per-field validation errors"},
                        413: {"description": "Body too large"},
                        415: {"description": "Body is not JSON"}})
async def predict(request: Request) -> JSONResponse:
    """Predict one record, or a batch sent as ``{"records": [...]}``."""
    # only the raw request: the fast path (lockgate.serving.app.PredictFastPath) calls
    # this function itself, without FastAPI's dependency solving
    state = serving_state(request)
    received = time.perf_counter()
    served = state.holder.current
    payload = decode(await request.body())
    if isinstance(payload, JSONResponse):
        return payload
    try:
        rows, is_batch = served.schema.parse(payload)
    except ValidationError as exc:
        return unprocessable(field_errors(exc))
    try:
        served, predictions, probabilities, cpu_ms = await state.batcher.predict(rows)
    except Exception as exc:  # the contract accepted it but the model cannot score it
        return JSONResponse(status_code=500, content={"detail": (
            f"Model {served.name}@{served.version} failed on this input: "
            f"{type(exc).__name__}: {str(exc)[:300]}")})
    latency_ms = (time.perf_counter() - received) * 1000
    given = request.headers.get("x-request-id")
    ids = _request_ids(len(rows), given if not is_batch else None)
    _record(state, served, rows, ids, predictions, probabilities, Cost(latency_ms, cpu_ms))
    items = [{"request_id": rid, "prediction": p, "probability": q}
             for rid, p, q in zip(ids, predictions, probabilities, strict=True)]
    body: dict[str, Any] = {"model_name": served.name, "model_version": served.version,
                            "model_digest": f"sha256:{served.digest}",
                            "latency_ms": latency_ms}
    body.update({"predictions": items} if is_batch else items[0])
    return JSONResponse(body)


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


def _request_ids(count: int, given: str | None) -> list[str]:
    if given and count == 1 and 0 < len(given) <= 128 and all(
            c.isalnum() or c in "_.:-" for c in given):
        return [given]
    base = uuid.uuid4().hex
    return [base] if count == 1 else [f"{base}-{i}" for i in range(count)]
