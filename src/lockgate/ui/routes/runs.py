"""Runs: the runs table and its saved views, one run's page and its notes, comparison."""

from __future__ import annotations

import dataclasses
import urllib.parse
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from lockgate.errors import NotFoundError
from lockgate.store.run_filter import FilterError
from lockgate.store.run_query import RunQuery
from lockgate.tracking.saved_view import SavedView, get_view, save_view
from lockgate.tracking.tag import TagError, parse_tag
from lockgate.ui.dashboard import DashboardDep
from lockgate.ui.pages import compare, run, runs
from lockgate.ui.routes.form import MAX_NOTE, read_form, require_edit
from lockgate.ui.viewer import FILTERED, ViewerDep

router = APIRouter()


@router.get("/", response_class=HTMLResponse, openapi_extra=FILTERED)
def runs_page(request: Request, dash: DashboardDep, viewer: ViewerDep) -> HTMLResponse:
    """The runs table, filtered and sorted by the URL or a saved view (of the experiments
    the viewer may see)."""
    store, policy = dash.store, dash.policy
    can_save, token_field = policy.can_edit, not policy.login_required
    within = viewer.within(store)
    try:
        view = (get_view(request.query_params["view"], store=store)
                if request.query_params.get("view") else None)
        if view is not None and view.experiment and not viewer.sees_experiment(
                view.experiment):
            raise NotFoundError(f"No saved view `{view.name}`.")
        query = dataclasses.replace(run_query(request.query_params, view), within=within)
    except (FilterError, TagError, NotFoundError) as exc:
        return HTMLResponse(runs.render(store, RunQuery(within=within), str(exc),
                                        can_save=can_save, token_field=token_field), 400)
    message = {"view-saved": f"View `{query.view}` saved for everyone using this "
               "store."}.get(request.query_params.get("message") or "")
    try:
        return HTMLResponse(runs.render(store, query, view=view, message=message,
                                        can_save=can_save, token_field=token_field))
    except (FilterError, NotFoundError) as exc:
        return HTMLResponse(runs.render(store, query, str(exc), view=view,
                                        can_save=can_save, token_field=token_field), 400)


@router.post("/views")
async def save_runs_view(request: Request, dash: DashboardDep) -> Response:
    """Save the table's columns, sort and filter under a name, for everyone."""
    form = await read_form(request)
    require_edit(dash.policy, request, form, "save views, or run `lockgate runs view save "
                 "NAME ...`", "saving a view")
    saved = save_view(
        (form.get("name") or "").strip(), columns=(form.get("columns") or "").split(","),
        sort=form.get("sort") or "start_time", descending=form.get("order") != "asc",
        filter=form.get("q") or "", experiment=form.get("experiment") or None,
        store=dash.store)
    return RedirectResponse(url_for_view(saved.name), status_code=303)


@router.get("/runs/{run_id}", response_class=HTMLResponse, openapi_extra=FILTERED)
def run_page(run_id: str, dash: DashboardDep, viewer: ViewerDep,
             message: str | None = None) -> str:
    """One run: status, params, metrics, artifacts, notes."""
    return run.render(dash.store, dash.artifacts, viewer.run(dash.store, run_id).id,
                      dash.policy, _known_message(message))


@router.post("/runs/{run_id}/notes")
async def add_note(run_id: str, request: Request, dash: DashboardDep) -> Response:
    """Add a note to a run (needs the edit token)."""
    form = await read_form(request)
    require_edit(dash.policy, request, form, "edit notes", "adding a note")
    text = (form.get("text") or "").strip()
    if not text or len(text) > MAX_NOTE:
        raise FilterError(f"A note needs 1 to {MAX_NOTE} characters; got {len(text)}.")
    full = dash.store.get_run(run_id).id
    dash.store.add_note(full, text, (form.get("author") or "").strip()[:100] or None)
    return RedirectResponse(f"/runs/{full}?message=note-added#notes", status_code=303)


@router.get("/compare", response_class=HTMLResponse, openapi_extra=FILTERED)
def compare_page(request: Request, dash: DashboardDep, viewer: ViewerDep) -> str:
    """Runs side by side, from ``?run=a&run=b`` or ``?ids=a,b``."""
    ids = list(request.query_params.getlist("run"))
    for chunk in request.query_params.getlist("ids"):
        ids.extend(chunk.split(","))
    if viewer.scoped:
        ids = [viewer.run(dash.store, i.strip()).id
               for i in ids[:compare.MAX_RUNS + 1] if i.strip()]
    return compare.render(dash.store, ids)


def url_for_view(name: str) -> str:
    """The runs page opened with a saved view, after saving it."""
    return "/?" + urllib.parse.urlencode({"view": name, "message": "view-saved"})


def run_query(params: Any, view: SavedView | None = None) -> RunQuery:
    """The runs page's query from the URL (bad numbers raise FilterError, bad tags
    TagError); a saved
    ``view`` supplies the experiment, filter and sort the URL does not give."""
    tags: list[tuple[str, str]] = []
    for chunk in params.getlist("tag"):
        tags.extend(parse_tag(pair) for pair in chunk.split())
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
        after=params.get("after") or "", before=params.get("before") or "",
    )


def _known_message(message: str | None) -> str | None:
    return {"note-added": "Note added."}.get(message or "")


def _int(value: str | None, name: str, default: int) -> int:
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise FilterError(f"`{name}` must be a whole number, got `{value[:20]}`.") from exc
