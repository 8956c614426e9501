"""JSON request bodies of the prediction API: decoded strictly, refused as per-field 422s
in one shape, and declared in the OpenAPI document by reference to the contract's models."""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse


def decode(body: bytes) -> Any:
    """The body as JSON, or the 422 response to send (NaN and Infinity are not JSON)."""
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        return unprocessable([{"field": "body", "type": "json_invalid",
                               "message": f"The body is not valid JSON: {exc}"}])


def unprocessable(errors: list[dict[str, Any]]) -> JSONResponse:
    """A 422 naming every bad field."""
    return JSONResponse(status_code=422, content={"detail": errors})


def body_ref(name: str) -> dict[str, Any]:
    """An OpenAPI request body pointing at the component schema ``name``, generated from
    the served version's contract when the document is asked for."""
    return {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{name}"}}}}


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")
