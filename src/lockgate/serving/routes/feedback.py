"""``POST /feedback``: ground truth for earlier predictions, joined to them by
``request_id``, checked against the target and appended to the feedback log."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from lockgate.serving.feedback import check_items
from lockgate.serving.request_schema import field_errors
from lockgate.serving.routes.json_body import body_ref, decode, unprocessable
from lockgate.serving.state import serving_state

router = APIRouter()


@router.post("/feedback", openapi_extra={"requestBody": body_ref("FeedbackRequest")},
             responses={200: {"description": "Stored"}, 404: {"description": "Unknown id"},
                        422: {"description": "Per-field validation errors"},
                        413: {"description": "Body too large"},
                        415: {"description": "Body is not JSON"}})
async def feedback(request: Request) -> JSONResponse:
    """Ground truth for earlier predictions, joined to them by ``request_id``; labels
    are checked against the target (type, classes, range); the latest label per
    request_id wins."""
    state = serving_state(request)
    payload = decode(await request.body())
    if isinstance(payload, JSONResponse):
        return payload
    served = state.holder.current
    many = isinstance(payload, dict) and "items" in payload
    items = payload["items"] if many else [payload]
    if not isinstance(items, list) or not items or len(items) > served.schema.max_batch_rows:
        return unprocessable([{"field": "items", "type": "list_type", "message":
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
        return unprocessable(errors)
    assert served.label_rule is not None
    dumped = [p.model_dump() for p in parsed]
    checked, errors = check_items(served.label_rule, dumped, many=many)
    if errors:
        return unprocessable(errors)
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
