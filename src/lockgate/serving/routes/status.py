"""What is being served: ``GET /health`` (liveness, open without the token) and
``GET /model`` (the version's lineage, evaluation, contract and card)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter

from lockgate.serving.state import ServingStateDep

router = APIRouter()


@router.get("/health")
async def health(state: ServingStateDep) -> dict[str, Any]:
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


@router.get("/model")
async def model(state: ServingStateDep) -> dict[str, Any]:
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
