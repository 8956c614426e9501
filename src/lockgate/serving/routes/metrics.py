"""``GET /metrics``: the Prometheus exposition of the server's figures."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from lockgate.serving.state import ServingStateDep

router = APIRouter()


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(state: ServingStateDep) -> PlainTextResponse:
    """Prometheus exposition text (every worker's figures with --workers > 1)."""
    return PlainTextResponse(state.render_metrics(),
                             media_type="text/plain; version=0.0.4; charset=utf-8")
