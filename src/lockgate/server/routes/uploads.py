"""Chunked uploads with resume over ``/api/v1/uploads/{sha256}``: where to resume, one
chunk at an offset, and completing (the bytes must hash to the name)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from lockgate.artifacts import blob_key
from lockgate.artifacts.blob_store import check_key
from lockgate.server.routes.responses import PlainAnswerRoute
from lockgate.server.routes.rules import ANY_WRITE, API
from lockgate.server.state import TeamDep, TeamServerState

#: The largest upload chunk (and so, with some room, the server's body limit).
CHUNK_BYTES = 8 << 20
router = APIRouter(prefix=API + "/uploads/{sha256}", route_class=PlainAnswerRoute)


@router.get("", openapi_extra=ANY_WRITE.extra())
def upload_offset(team: TeamDep, sha256: str) -> dict[str, Any]:
    part = _part(team, sha256)
    return {"offset": part.stat().st_size if part.is_file() else 0,
            "complete": team.blobs.exists(sha256)}


@router.put("", openapi_extra=ANY_WRITE.extra())
async def upload_chunk(request: Request, team: TeamDep, sha256: str,
                       offset: int = Query(..., ge=0)) -> dict[str, Any]:
    part = _part(team, sha256)
    data = await request.body()
    return await run_in_threadpool(_append_chunk, part, offset, data)  # off the loop


@router.post("/complete", openapi_extra=ANY_WRITE.extra())
def upload_complete(team: TeamDep, sha256: str) -> dict[str, Any]:
    part = _part(team, sha256)
    if not part.is_file():
        if team.blobs.exists(sha256):
            return {"sha256": sha256, "size": team.blobs.objects.size(blob_key(sha256))}
        raise HTTPException(404, f"No upload of {sha256} in progress.")
    found, size = team.blobs.put_file(part)
    part.unlink(missing_ok=True)
    if found != sha256:
        raise HTTPException(400, f"The uploaded bytes hash to {found}, not {sha256}; "
                            "start the upload again.")
    return {"sha256": sha256, "size": size}


def _part(team: TeamServerState, sha256: str) -> Path:
    return team.uploads / f"{check_key(sha256)}.part"


def _append_chunk(part: Path, offset: int, data: bytes) -> dict[str, Any]:
    """Append one chunk at ``offset``; any other offset is answered with where to
    resume (409), so a client that lost a response continues, never duplicates."""
    part.parent.mkdir(parents=True, exist_ok=True)
    current = part.stat().st_size if part.is_file() else 0
    if offset != current:
        raise HTTPException(409, json.dumps({"offset": current}))
    with part.open("ab") as handle:
        handle.write(data)
    return {"offset": current + len(data)}
