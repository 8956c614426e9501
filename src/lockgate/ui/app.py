"""The dashboard application: routes, access checks, static files and error pages.

Pages are rendered on the server from the metadata store; the browser loads only
``/static/plotly.min.js`` (straight from the installed plotly package), ``app.js`` and
``style.css`` from this package. No CDN, no network.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from pathlib import Path
from typing import Any

import plotly
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from lockgate.artifacts import (
    ArtifactStore,
    ObjectBlobStore,
    allowlist,
    blob_store_for,
    check_key,
    key_from_uri,
)
from lockgate.config import Settings
from lockgate.errors import ArtifactError, LockgateError, NotFoundError
from lockgate.security import HttpGuard
from lockgate.store import Store
from lockgate.store.run_filter import FilterError
from lockgate.tracking.saved_view import SavedView, get_view, save_view
from lockgate.ui.access import COOKIE, AccessError, AccessPolicy
from lockgate.ui.html import banner, esc, page
from lockgate.ui.pages import compare, data, lineage, models, monitoring, pipelines, run, runs
from lockgate.ui.run_query import RunQuery

STATIC = Path(__file__).parent / "static"
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
STATIC_FILES = {
    "app.js": (STATIC / "app.js", "text/javascript"),
    "style.css": (STATIC / "style.css", "text/css"),
    "plotly.min.js": (PLOTLY_JS, "text/javascript"),
    "favicon.svg": (STATIC / "favicon.svg", "image/svg+xml"),
}
MAX_NOTE = 20_000
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def create_app(settings: Settings, policy: AccessPolicy | None = None) -> FastAPI:
    """Build the dashboard for the store named by ``settings``.

    Args:
        settings: where the metadata store and artifacts live.
        policy: bind address and token; default is loopback, read-only, no token.

    Raises:
        ConfigError: the policy refuses to serve (see :meth:`AccessPolicy.check_start`).
    """
    policy = policy or AccessPolicy()
    policy.check_start()
    store = Store.open(settings)
    blobs = blob_store_for(settings.resolved_artifact_root)
    artifacts = ArtifactStore(store, blobs, allowlist(settings))
    app = FastAPI(title="lockgate dashboard", docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.policy = policy

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        return _secure(await call_next(request))

    app.add_middleware(HttpGuard, policy=policy.guard(tuple(settings.allowed_hosts)))

    @app.exception_handler(LockgateError)
    async def lockgate_error(_request: Request, exc: LockgateError) -> HTMLResponse:
        status = 404 if isinstance(exc, NotFoundError) else 403 \
            if isinstance(exc, AccessError) else 400
        title = "Not found" if status == 404 else "Cannot show this"
        return HTMLResponse(_error_page(title, str(exc)), status_code=status)

    @app.get("/", response_class=HTMLResponse)
    def runs_page(request: Request) -> HTMLResponse:
        can_save, token_field = policy.can_edit, not policy.login_required
        try:
            view = (get_view(request.query_params["view"], store=store)
                    if request.query_params.get("view") else None)
            query = run_query(request.query_params, view)
        except (FilterError, NotFoundError) as exc:
            return HTMLResponse(runs.render(store, RunQuery(), str(exc), can_save=can_save,
                                            token_field=token_field), 400)
        message = {"view-saved": f"View `{query.view}` saved for everyone using this "
                   "store."}.get(request.query_params.get("message") or "")
        try:
            return HTMLResponse(runs.render(store, query, view=view, message=message,
                                            can_save=can_save, token_field=token_field))
        except (FilterError, NotFoundError) as exc:
            return HTMLResponse(runs.render(store, query, str(exc), view=view,
                                            can_save=can_save, token_field=token_field), 400)

    @app.post("/views")
    async def save_runs_view(request: Request) -> Response:
        form = await _form(request)
        _require_edit(policy, request, form, "save views, or run `lockgate runs view save "
                      "NAME ...`", "saving a view")
        saved = save_view(
            (form.get("name") or "").strip(), columns=(form.get("columns") or "").split(","),
            sort=form.get("sort") or "start_time", descending=form.get("order") != "asc",
            filter=form.get("q") or "", experiment=form.get("experiment") or None, store=store)
        return RedirectResponse(url_for_view(saved.name), status_code=303)

    @app.get("/runs/{run_id}", response_class=HTMLResponse)
    def run_page(run_id: str, message: str | None = None) -> str:
        return run.render(store, artifacts, run_id, policy, _known_message(message))

    @app.post("/runs/{run_id}/notes")
    async def add_note(run_id: str, request: Request) -> Response:
        form = await _form(request)
        _require_edit(policy, request, form, "edit notes", "adding a note")
        text = (form.get("text") or "").strip()
        if not text or len(text) > MAX_NOTE:
            raise FilterError(f"A note needs 1 to {MAX_NOTE} characters; got {len(text)}.")
        full = store.get_run(run_id).id
        store.add_note(full, text, (form.get("author") or "").strip()[:100] or None)
        return RedirectResponse(f"/runs/{full}?message=note-added#notes", status_code=303)

    @app.get("/compare", response_class=HTMLResponse)
    def compare_page(request: Request) -> str:
        ids = list(request.query_params.getlist("run"))
        for chunk in request.query_params.getlist("ids"):
            ids.extend(chunk.split(","))
        return compare.render(store, ids)

    @app.get("/pipelines", response_class=HTMLResponse)
    def pipelines_page() -> str:
        return pipelines.render_list(store)

    @app.get("/pipelines/{run_id}", response_class=HTMLResponse)
    def pipeline_page(run_id: str) -> str:
        return pipelines.render_pipeline(store, run_id)

    @app.get("/lineage", response_class=HTMLResponse)
    def lineage_page(run: str | None = None, artifact: int | None = None,
                     dataset: int | None = None) -> str:
        return lineage.render(store, run_id=run, artifact_id=artifact,
                              dataset_version_id=dataset)

    @app.get("/data", response_class=HTMLResponse)
    def data_page() -> str:
        return data.render_tables(store)

    @app.get("/data/{table}", response_class=HTMLResponse)
    def table_page(table: str) -> str:
        return data.render_table(store, table)

    @app.get("/data/{table}/v/{version}", response_class=HTMLResponse)
    def version_page(table: str, version: int) -> str:
        return data.render_version(store, table, version)

    @app.get("/data/{table}/drift", response_class=HTMLResponse)
    def drift_page(table: str, base: int, current: int) -> str:
        return data.render_drift(store, settings, table, base, current)

    @app.get("/models", response_class=HTMLResponse)
    def models_page() -> str:
        return models.render_list(store)

    @app.get("/models/run/{run_id}", response_class=HTMLResponse)
    def trained_model_page(run_id: str) -> str:
        return models.render_trained(store, artifacts, run_id)

    @app.get("/models/{name}/{version}", response_class=HTMLResponse)
    def model_version_page(name: str, version: int) -> str:
        return models.render_version(store, artifacts, name, version)

    @app.get("/monitoring", response_class=HTMLResponse)
    def monitoring_page(model: str | None = None) -> str:
        return monitoring.render(store, model)

    @app.get("/artifacts/{artifact_id}/download")
    def download(artifact_id: int) -> Response:
        record = store.artifact(artifact_id)
        return _blob_response(blobs, key_from_uri(record.uri), record.name, record.media_type)

    @app.get("/blobs/{key:path}")
    def blob(key: str) -> Response:
        return _blob_response(blobs, key, key, "application/octet-stream")

    @app.get("/favicon.ico")
    def favicon() -> Response:  # browsers ask for it on every page, whatever the <link>
        path, media_type = STATIC_FILES["favicon.svg"]
        return FileResponse(path, media_type=media_type,
                            headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC_FILES:
            raise NotFoundError(f"No static file `{name}`.")
        path, media_type = STATIC_FILES[name]
        return FileResponse(path, media_type=media_type,
                            headers={"Cache-Control": "public, max-age=3600"})

    @app.get("/login", response_class=HTMLResponse)
    def login_form(next: str = "/") -> str:
        return page("Log in", (
            "<form method='post' action='/login'>"
            f"<input type='hidden' name='next' value='{esc(_local(next))}'>"
            "<label>token <input type='password' name='token' autocomplete='off'></label> "
            "<button type='submit'>Log in</button></form>"
            "<p class='muted'>The token is the value of LOCKGATE_UI_TOKEN where "
            "<code>lockgate ui</code> runs.</p>"))

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = await _form(request)
        if not policy.token_matches(form.get("token")):
            raise AccessError("Wrong token. It is the value of LOCKGATE_UI_TOKEN where "
                              "`lockgate ui` runs.")
        response = RedirectResponse(_local(form.get("next") or "/"), status_code=303)
        response.set_cookie(COOKIE, form["token"], httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
        return response

    @app.get("/healthz")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def url_for_view(name: str) -> str:
    """The runs page opened with a saved view, after saving it."""
    return "/?" + urllib.parse.urlencode({"view": name, "message": "view-saved"})


def run_query(params: Any, view: SavedView | None = None) -> RunQuery:
    """The runs page's query from the URL (bad numbers raise FilterError); a saved
    ``view`` supplies the experiment, filter and sort the URL does not give."""
    tags = []
    for chunk in params.getlist("tag"):
        for pair in chunk.split():
            key, sep, value = pair.partition("=")
            if not sep or not key:
                raise FilterError(f"Tag filter `{pair}` must look like key=value.")
            tags.append((key, value))
    own = view or SavedView("")
    return RunQuery(
        experiment=params.get("experiment") or own.experiment,
        status=params.get("status") or None, tags=tuple(tags),
        q=params.get("q") if "q" in params else own.filter,
        sort=params.get("sort") or own.sort,
        descending=(params.get("order") or ("desc" if own.descending else "asc")) != "asc",
        page=_int(params.get("page"), "page", 1), per_page=_int(params.get("per_page"),
                                                                  "per_page", 50),
        include_steps=params.get("steps") in ("1", "true", "on"), view=own.name,
    )


def _blob_response(blobs: ObjectBlobStore, key: str, name: str, media_type: str) -> Response:
    """Bytes of one blob, addressed by sha256 only (a checked key is never a path), served
    from a verified local file (the blob itself, or a verified copy from object storage)."""
    try:
        check_key(key)
        if not blobs.exists(key):
            raise NotFoundError(f"Artifact {key} is missing from the artifact store.")
        handle = blobs.open_verified(key)
    except ArtifactError as exc:
        raise NotFoundError(f"No artifact at `{key[:80]}`: {exc}") from exc
    path = Path(handle.name)
    handle.close()
    filename = re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.basename(name))[:120] or "artifact"
    return FileResponse(path, media_type=media_type or "application/octet-stream",
                        filename=filename, content_disposition_type="attachment")


def _secure(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def _error_page(title: str, message: str) -> str:
    return page(title, banner(message) + "<p><a href='/'>Back to runs</a></p>")


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > 4 * MAX_NOTE:
        raise FilterError("The form is too large.")
    parsed = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in parsed.items()}


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


def _local(target: str) -> str:
    """Only same-site paths after login (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _known_message(message: str | None) -> str | None:
    return {"note-added": "Note added."}.get(message or "")


def _int(value: str | None, name: str, default: int) -> int:
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise FilterError(f"`{name}` must be a whole number, got `{value[:20]}`.") from exc


def _require_edit(policy: AccessPolicy, request: Request, form: dict[str, str],
                  to_do: str, doing: str) -> None:
    """Every state change of the dashboard is allowed the same way: an editable
    dashboard and its token (form field, bearer header or login cookie)."""
    if not policy.can_edit:
        raise AccessError("This dashboard is read-only: start it with LOCKGATE_UI_TOKEN set "
                          f"to {to_do}.")
    given = form.get("token") or _bearer(request) or request.cookies.get(COOKIE)
    if not policy.token_matches(given):
        raise AccessError(f"Wrong or missing token: {doing} needs the dashboard token "
                          "(the value of LOCKGATE_UI_TOKEN where `lockgate ui` runs).")
