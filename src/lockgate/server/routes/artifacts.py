"""Artifacts and their blobs over ``/api/v1``: a run's artifacts, recording one whose
blob was uploaded, reading one, and the content-addressed blobs themselves (a blob is
readable by whoever may see an artifact that holds it)."""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter, Body, HTTPException, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from lockgate.artifacts.blob_store import check_key, uri_for
from lockgate.security.accounts import Principal
from lockgate.server import visibility
from lockgate.server.access import Access
from lockgate.server.idempotency import applied_once
from lockgate.server.routes.responses import PlainAnswerRoute, streamed
from lockgate.server.routes.rules import ANY_WRITE, API, RUN_READ, SEEN
from lockgate.server.state import PrincipalDep, TeamDep, TeamServerState
from lockgate.server.wire import encode

router = APIRouter(prefix=API, route_class=PlainAnswerRoute)


@router.get("/runs/{run_id}/artifacts", openapi_extra=RUN_READ.extra())
def artifacts(team: TeamDep, run_id: str) -> list[Any]:
    return encode(team.store.artifacts(run_id))


@router.post("/artifacts", openapi_extra=Access("writer", "experiment", "run:body").extra())
def add_artifact(request: Request, team: TeamDep,
                 body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    sha = check_key(str(body["sha256"]))
    if not team.blobs.exists(sha):
        raise HTTPException(409, f"Blob {sha} was not uploaded; PUT {API}/blobs/{sha} "
                            "first.")
    return applied_once(team.store, request, lambda: encode(team.store.add_artifact(
        run_id=body.get("run_id"), name=str(body["name"]), uri=uri_for(sha), sha256=sha,
        size=int(body["size"]), media_type=str(body["media_type"]),
        materializer=body.get("materializer"))), joined=True)


@router.get("/artifacts/{artifact_id}", openapi_extra=SEEN.extra())
def artifact(team: TeamDep, user: PrincipalDep, artifact_id: int) -> dict[str, Any]:
    found = team.store.artifact(artifact_id)
    if user.visible("experiment") is not None and (
            found.run_id is None or not visibility.visible_runs(
                user, team.store, [found.run_id])):
        raise HTTPException(404, f"No artifact {artifact_id}.")
    return encode(found)


@router.api_route("/blobs/{sha256}", methods=["HEAD"], openapi_extra=SEEN.extra())
def blob_exists(team: TeamDep, user: PrincipalDep, sha256: str) -> Any:
    _readable_blob(team, user, sha256)
    return None


@router.get("/blobs/{sha256}", openapi_extra=SEEN.extra())
def get_blob(team: TeamDep, user: PrincipalDep, sha256: str) -> StreamingResponse:
    _readable_blob(team, user, sha256)
    return streamed(team.blobs.local_copy(sha256), "application/octet-stream",
                    {"x-sha256": sha256})


@router.put("/blobs/{sha256}", openapi_extra=ANY_WRITE.extra())
async def put_blob(request: Request, team: TeamDep, sha256: str) -> dict[str, Any]:
    data = await request.body()
    if hashlib.sha256(data).hexdigest() != check_key(sha256):
        raise HTTPException(400, f"The body does not hash to {sha256}; nothing stored.")
    await run_in_threadpool(team.blobs.put, data)  # it fsyncs: off the event loop
    return {"sha256": sha256, "size": len(data)}


def _readable_blob(team: TeamServerState, user: Principal, sha256: str) -> None:
    if not team.blobs.exists(check_key(sha256)) or not visibility.blob_visible(
            user, team.store, sha256):
        raise HTTPException(404, f"No blob {sha256}.")
