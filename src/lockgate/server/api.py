"""The versioned REST API of ``lockgate server`` (``/api/v1``): runs, params, metrics
(batched), tags, notes, console, hardware, code and environment, artifacts (streamed,
chunked uploads with resume), dataset versions, lineage, the registry, users, tokens,
grants and the audit log.

Every route declares its :class:`~lockgate.server.access.Access` rule; the handlers call
the embedded store exactly as the Python client does locally, inside
:func:`~lockgate.store.audit.acting_as` the authenticated user, so every audit record
names who did it. A state-changing request may carry ``Idempotency-Key``: a retry of a
request already applied gets the first answer back and changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import Body, FastAPI, HTTPException, Query, Request
from fastapi.responses import Response, StreamingResponse

from lockgate.artifacts import blob_key, blob_store_for
from lockgate.artifacts.blob_store import check_key, uri_for
from lockgate.config import Settings
from lockgate.security import accounts
from lockgate.security.accounts import Principal
from lockgate.server import visibility
from lockgate.server.access import Access, principal_of
from lockgate.server.wire import encode, real
from lockgate.store import CodeVersion, Environment, Store, audit
from lockgate.store.tables_auth import request_ids

API = "/api/v1"
CHUNK_BYTES = 8 << 20  # the largest upload chunk (and so the body limit)
READ = Access("reader")
SEEN = Access("reader", "any")  # a reader of anything; the answer holds what it may see
RUN_READ = Access("reader", "experiment", "run:path")
RUN_WRITE = Access("writer", "experiment", "run:path")
ADMIN = Access("admin")


def add_api_routes(app: FastAPI, store: Store, settings: Settings) -> None:
    """Add every ``/api/v1`` route over ``store`` and the artifact root of ``settings``
    (on the app itself, so each is a plain route the app's access dependency covers and
    a test can enumerate)."""
    blobs = blob_store_for(settings.resolved_artifact_root)  # a folder or s3://
    uploads = settings.home.resolve() / "server-uploads"  # partial chunked uploads

    def route(method: str, path: str, access: Access, **options: Any) -> Callable[..., Any]:
        return app.api_route(API + path, methods=[method], openapi_extra=access.extra(),
                             **options)

    def once(request: Request, work: Callable[[], Any]) -> Any:
        return applied_once(store, request, work, joined=True)

    # -- who am I -------------------------------------------------------------------

    @route("GET", "/whoami", SEEN)
    def whoami(request: Request) -> dict[str, Any]:
        return encode(_principal(request))

    # -- experiments and runs ---------------------------------------------------------

    @route("GET", "/experiments", SEEN)
    def experiments(request: Request) -> list[str]:
        found = visibility.experiments(_principal(request), store)
        return store.experiments() if found is None else found

    @route("POST", "/runs", Access("writer", "experiment", "body:experiment"))
    def create_run(request: Request, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            run_id = store.create_run(
                str(body["name"]), experiment=str(body.get("experiment") or "default"),
                kind=str(body.get("kind") or "run"), parent_id=body.get("parent_id"),
                heartbeat_seconds=float(body.get("heartbeat_seconds") or 5.0),
                status=str(body.get("status") or "RUNNING"))
            return {"id": run_id}
        return once(request, work)

    @route("GET", "/runs", SEEN)
    def list_runs(request: Request, experiment: str | None = None,
                  status: str | None = None, kind: str | None = None,
                  parent_id: str | None = None, top_level: bool = False,
                  limit: int = Query(100, ge=1, le=10_000), after: str | None = None,
                  within: list[str] = Query(default=[])) -> dict[str, Any]:
        scope = visibility.chosen(_principal(request), store,
                                  [experiment] if experiment else within)
        page = store.page_runs(experiment=experiment, status=status, kind=kind,
                               parent_id=parent_id, top_level=top_level, limit=limit,
                               after=after, within=scope)
        return {"runs": encode(page.runs), "next_page": page.next_page}

    @route("GET", "/latest-metrics", SEEN)
    def last_metrics(request: Request, run_id: list[str] = Query(default=[])
                     ) -> dict[str, Any]:
        seen = visibility.visible_runs(_principal(request), store, run_id[:10_000])
        return encode(store.last_metrics([run for run in run_id[:10_000] if run in seen]))

    @route("GET", "/runs-count", SEEN)
    def count_runs(request: Request) -> dict[str, int]:
        scope = visibility.chosen(_principal(request), store, [])
        return {"count": store.count_runs() if scope is None else
                visibility.count_runs(store, scope)}

    @route("GET", "/search", SEEN)
    def search(request: Request, filter: str = "", order_by: list[str] = Query(default=[]),
               experiment: list[str] = Query(default=[]),
               max_results: int = Query(1000, ge=1, le=100_000),
               include_steps: bool = False) -> list[Any]:
        from lockgate.tracking.search import find_runs

        scope = visibility.chosen(_principal(request), store, experiment)
        if scope == []:
            return []
        return encode(find_runs(store, filter, order_by or None, scope, max_results,
                                include_steps=include_steps))

    @route("GET", "/runs/{run_id}", RUN_READ)
    def get_run(run_id: str) -> dict[str, Any]:
        return encode(store.get_run(store.resolve_run_id(run_id)))

    @route("POST", "/runs/{run_id}/end", RUN_WRITE)
    def end_run(request: Request, run_id: str,
                body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            before = store.get_run(run_id).status
            store.end_run(run_id, str(body["status"]), body.get("error"))
            audit.record(store, "run.ended", f"run:{run_id}", before={"status": before},
                         after={"status": body["status"]})
            return {"ok": True}
        return once(request, work)

    @route("POST", "/runs/{run_id}/heartbeat", RUN_WRITE)
    def heartbeat(run_id: str) -> dict[str, Any]:
        store.heartbeat(run_id)
        return {"ok": True}

    @route("POST", "/runs/{run_id}/params", RUN_WRITE)
    def log_params(request: Request, run_id: str,
                   body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        return once(request, lambda: _ok(store.log_params(run_id, dict(body["values"]))))

    @route("GET", "/runs/{run_id}/params", RUN_READ)
    def params(run_id: str) -> Response:
        return python_json(store.params(run_id))

    @route("POST", "/runs/{run_id}/metrics", RUN_WRITE)
    def log_metrics(request: Request, run_id: str,
                    body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        points = body.get("points") or []
        rows = [(run_id, str(k), int(s), float(ts), real(v)) for k, s, ts, v in points]
        return once(request, lambda: {"stored": _stored(store.log_metric_tuples(rows), rows)})

    @route("GET", "/runs/{run_id}/metrics", RUN_READ)
    def metrics(run_id: str, key: str | None = None) -> list[Any]:
        return encode(store.metrics(run_id, key))

    @route("POST", "/runs/{run_id}/tags", RUN_WRITE)
    def set_tags(request: Request, run_id: str,
                 body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        return once(request, lambda: _ok(store.set_tags(run_id, dict(body["values"]))))

    @route("GET", "/runs/{run_id}/tags", RUN_READ)
    def tags(run_id: str) -> dict[str, str]:
        return store.tags(run_id)

    @route("POST", "/runs/{run_id}/notes", RUN_WRITE)
    def add_note(request: Request, run_id: str,
                 body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        author = body.get("author") or _principal(request).user
        return once(request, lambda: _ok(store.add_note(run_id, str(body["text"]), author)))

    @route("GET", "/runs/{run_id}/notes", RUN_READ)
    def notes(run_id: str) -> list[Any]:
        return encode(store.notes(run_id))

    @route("POST", "/runs/{run_id}/console", RUN_WRITE)
    def append_console(request: Request, run_id: str,
                       body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        rows = [{**dict(chunk), "run_id": run_id} for chunk in body.get("chunks") or []]
        return once(request, lambda: _ok(store.append_console(rows)))

    @route("GET", "/runs/{run_id}/console", RUN_READ)
    def console(run_id: str, tail_lines: int | None = None) -> dict[str, str]:
        return {"text": store.console(run_id, tail_lines)}

    @route("POST", "/runs/{run_id}/hardware", RUN_WRITE)
    def add_hardware(run_id: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        rows = [{**dict(sample), "run_id": run_id} for sample in body.get("samples") or []]
        return _ok(store.add_hardware_samples(rows))

    @route("GET", "/runs/{run_id}/hardware", RUN_READ)
    def hardware(run_id: str) -> list[Any]:
        return encode(store.hardware(run_id))

    @route("PUT", "/runs/{run_id}/code", RUN_WRITE)
    def set_code(run_id: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        return _ok(store.set_code_version(run_id, CodeVersion(**body)))

    @route("GET", "/runs/{run_id}/code", RUN_READ)
    def code(run_id: str) -> Any:
        return encode(store.code_version(run_id))

    @route("PUT", "/runs/{run_id}/environment", RUN_WRITE)
    def set_environment(run_id: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        return _ok(store.set_environment(run_id, Environment(**body)))

    @route("GET", "/runs/{run_id}/environment", RUN_READ)
    def environment(run_id: str) -> Any:
        return encode(store.environment(run_id))

    # -- artifacts, blobs, lineage ------------------------------------------------------

    @route("GET", "/runs/{run_id}/artifacts", RUN_READ)
    def artifacts(run_id: str) -> list[Any]:
        return encode(store.artifacts(run_id))

    @route("POST", "/artifacts", Access("writer", "experiment", "run:body"))
    def add_artifact(request: Request, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        sha = check_key(str(body["sha256"]))
        if not blobs.exists(sha):
            raise HTTPException(409, f"Blob {sha} was not uploaded; PUT {API}/blobs/{sha} "
                                "first.")
        return once(request, lambda: encode(store.add_artifact(
            run_id=body.get("run_id"), name=str(body["name"]), uri=uri_for(sha), sha256=sha,
            size=int(body["size"]), media_type=str(body["media_type"]),
            materializer=body.get("materializer"))))

    @route("GET", "/artifacts/{artifact_id}", SEEN)
    def artifact(request: Request, artifact_id: int) -> dict[str, Any]:
        found = store.artifact(artifact_id)
        principal = _principal(request)
        if principal.visible("experiment") is not None and (
                found.run_id is None or not visibility.visible_runs(
                    principal, store, [found.run_id])):
            raise HTTPException(404, f"No artifact {artifact_id}.")
        return encode(found)

    def readable_blob(request: Request, sha256: str) -> None:
        if not blobs.exists(check_key(sha256)) or not visibility.blob_visible(
                _principal(request), store, sha256):
            raise HTTPException(404, f"No blob {sha256}.")

    @route("HEAD", "/blobs/{sha256}", SEEN)
    def blob_exists(request: Request, sha256: str) -> Any:
        readable_blob(request, sha256)
        return None

    @route("GET", "/blobs/{sha256}", SEEN)
    def get_blob(request: Request, sha256: str) -> StreamingResponse:
        readable_blob(request, sha256)
        return StreamingResponse(_chunks(blobs.local_copy(sha256)),
                                 media_type="application/octet-stream",
                                 headers={"x-sha256": sha256})

    @route("PUT", "/blobs/{sha256}", Access("writer", "any"))
    async def put_blob(request: Request, sha256: str) -> dict[str, Any]:
        data = await request.body()
        if hashlib.sha256(data).hexdigest() != check_key(sha256):
            raise HTTPException(400, f"The body does not hash to {sha256}; nothing stored.")
        blobs.put(data)
        return {"sha256": sha256, "size": len(data)}

    @route("GET", "/uploads/{sha256}", Access("writer", "any"))
    def upload_offset(sha256: str) -> dict[str, Any]:
        part = uploads / f"{check_key(sha256)}.part"
        return {"offset": part.stat().st_size if part.is_file() else 0,
                "complete": blobs.exists(sha256)}

    @route("PUT", "/uploads/{sha256}", Access("writer", "any"))
    async def upload_chunk(request: Request, sha256: str,
                           offset: int = Query(..., ge=0)) -> dict[str, Any]:
        part = uploads / f"{check_key(sha256)}.part"
        data = await request.body()
        return _append_chunk(part, offset, data)

    @route("POST", "/uploads/{sha256}/complete", Access("writer", "any"))
    def upload_complete(sha256: str) -> dict[str, Any]:
        part = uploads / f"{check_key(sha256)}.part"
        if not part.is_file():
            if blobs.exists(sha256):
                return {"sha256": sha256, "size": blobs.objects.size(blob_key(sha256))}
            raise HTTPException(404, f"No upload of {sha256} in progress.")
        found, size = blobs.put_file(part)
        part.unlink(missing_ok=True)
        if found != sha256:
            raise HTTPException(400, f"The uploaded bytes hash to {found}, not {sha256}; "
                                "start the upload again.")
        return {"sha256": sha256, "size": size}

    @route("POST", "/lineage", Access("writer", "experiment", "run:body"))
    def add_lineage(request: Request, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        return once(request, lambda: _ok(store.add_lineage(
            str(body["run_id"]), str(body["direction"]), artifact_id=body.get("artifact_id"),
            dataset_version_id=body.get("dataset_version_id"), role=body.get("role"),
            note=body.get("note"))))

    @route("GET", "/lineage", SEEN)
    def lineage(request: Request, run_id: str | None = None,
                artifact_id: int | None = None, dataset_version_id: int | None = None,
                sha256: str | None = None) -> list[Any]:
        edges = store.lineage(run_id=run_id, artifact_id=artifact_id,
                              dataset_version_id=dataset_version_id, sha256=sha256)
        seen = visibility.visible_runs(_principal(request), store, [e.run_id for e in edges])
        return encode([edge for edge in edges if edge.run_id in seen])

    # -- dataset versions -----------------------------------------------------------------

    @route("GET", "/datasets", READ)
    def dataset_tables() -> list[str]:
        return store.dataset_tables()

    @route("GET", "/datasets/{table}/versions", READ)
    def dataset_versions(table: str) -> list[Any]:
        return encode(store.dataset_versions(table))

    @route("GET", "/datasets/{table}/versions/{version}", READ)
    def dataset_version(table: str, version: str) -> dict[str, Any]:
        number = None if version == "latest" else int(version)
        return encode(store.dataset_version(table, number))

    @route("GET", "/dataset-versions/{dataset_version_id}", READ)
    def dataset_version_by_id(dataset_version_id: int) -> dict[str, Any]:
        return encode(store.dataset_version_by_id(dataset_version_id))

    @route("POST", "/datasets/{table}/versions", Access("writer", "any"))
    def add_dataset_version(request: Request, table: str,
                            body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        fields = {k: body[k] for k in body if k in _DATASET_FIELDS}
        return once(request, lambda: encode(store.add_dataset_version(table, **fields)))

    # -- users, tokens, grants, audit ---------------------------------------------------------

    @route("GET", "/users", ADMIN)
    def users() -> list[Any]:
        return [{"name": name, "role": role} for name, role in accounts.users(store)]

    @route("POST", "/users", ADMIN)
    def create_user(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        accounts.create_user(store, str(body["name"]), str(body.get("role") or "reader"))
        return {"ok": True}

    @route("POST", "/users/{name}/tokens", ADMIN)
    def create_token(name: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        expires = body.get("expires_in_s")
        token = accounts.issue_token(store, name, label=body.get("label"),
                                     expires_in_s=None if expires is None else float(expires))
        return {"token": token, "id": accounts.token_id(token)}

    @route("PUT", "/users/{name}/grants", ADMIN)
    def set_grant(name: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        accounts.set_grant(store, name, str(body["kind"]), str(body["name"]),
                           str(body["role"]), promote=bool(body.get("promote")))
        return {"ok": True}

    @route("GET", "/tokens", ADMIN)
    def tokens(user: str | None = None) -> list[Any]:
        return [{**encode(info), "active": info.active}
                for info in accounts.list_tokens(store, user)]

    @route("DELETE", "/tokens/{token_id}", ADMIN)
    def revoke(token_id: str) -> dict[str, Any]:
        accounts.revoke_token(store, token_id)
        return {"ok": True}

    @route("GET", "/audit", ADMIN)
    def audit_log(action: str | None = None, actor: str | None = None,
                  target: str | None = None, limit: int = Query(100, ge=1, le=10_000)
                  ) -> list[Any]:
        return [audit.entry_dict(e) for e in audit.entries(
            store, action=action, actor=actor, target=target, limit=limit)]



_DATASET_FIELDS = frozenset({
    "source", "batch_id", "rows_ingested", "rows_accepted", "rows_quarantined",
    "content_hash", "contract_version", "validation_status", "checks", "details", "run_id",
    "version"})


def applied_once(store: Store, request: Request, work: Callable[[], Any], *,
                 joined: bool = False) -> Any:
    """Run ``work`` unless this request's ``Idempotency-Key`` was applied already, in
    which case its first answer is returned and nothing changes.

    ``joined``: the claim, the work and the answer are one transaction on one connection
    (:meth:`Store.transaction`): a concurrent retry's claim waits for it and then reads
    the answer, and a failure undoes all three. For short store writes only: the
    transaction holds SQLite's write lock. Otherwise the key is claimed before the work
    (a concurrent retry gets 409), the answer stored after; work that fails releases the
    claim, so a retry runs it again.
    """
    principal = _principal(request)
    key = request.headers.get("idempotency-key")
    if key is not None and len(key) > 64:
        raise HTTPException(400, "Idempotency-Key is longer than 64 characters.")
    scoped = f"{principal.user[:20]}:{key}"[:64] if key else None
    if joined:
        return _applied_joined(store, principal, scoped, key, work)
    if scoped is None:
        with audit.acting_as(principal.user):
            return work()
    try:
        store.execute_write(sa.insert(request_ids).values(id=scoped, at=time.time(),
                                                          answer_json=""))
    except sa.exc.IntegrityError:
        return _first_answer(store, scoped)
    try:
        with audit.acting_as(principal.user, key):
            result = work()
    except BaseException:
        store.execute_write(sa.delete(request_ids).where(request_ids.c.id == scoped))
        raise
    store.execute_write(sa.update(request_ids).where(request_ids.c.id == scoped).values(
        answer_json=json.dumps(result)))
    return result


def _applied_joined(store: Store, principal: Principal, scoped: str | None,
                    key: str | None, work: Callable[[], Any]) -> Any:
    claimed = scoped is None
    try:
        with store.transaction() as conn, audit.acting_as(principal.user, key):
            if scoped is not None:  # waits for a concurrent holder of the key, then fails
                conn.execute(sa.insert(request_ids).values(id=scoped, at=time.time(),
                                                           answer_json=""))
                claimed = True
            result = work()
            if scoped is not None:
                conn.execute(sa.update(request_ids).where(request_ids.c.id == scoped)
                             .values(answer_json=json.dumps(result)))
            return result
    except sa.exc.IntegrityError:
        if claimed or scoped is None:  # the work's own error, not a repeated key
            raise
        return _first_answer(store, scoped)


def _first_answer(store: Store, scoped: str) -> Any:
    with store.read() as conn:
        answer = conn.execute(sa.select(request_ids.c.answer_json).where(
            request_ids.c.id == scoped)).scalar()
    if not answer:
        raise HTTPException(409, "This request is being applied; retry shortly.") from None
    return json.loads(answer)


def python_json(value: Any) -> Response:
    """JSON as Python writes it (NaN, Infinity): a parameter may be any float."""
    return Response(json.dumps(value, default=str), media_type="application/json")


def _principal(request: Request) -> Principal:
    found = principal_of(request.scope)
    if found is None:  # the middleware lets no request through without one
        raise HTTPException(401, "Not authenticated.")
    return found


def _ok(_: object) -> dict[str, Any]:
    return {"ok": True}


def _stored(_: object, rows: list[Any]) -> int:
    return len(rows)


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            yield chunk


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
