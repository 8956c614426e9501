"""Pipelines and lineage: the pipeline runs, one pipeline's steps, the lineage graph."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from lockgate.ui.dashboard import DashboardDep
from lockgate.ui.pages import lineage, pipelines
from lockgate.ui.viewer import FILTERED, ViewerDep

router = APIRouter()


@router.get("/pipelines", response_class=HTMLResponse, openapi_extra=FILTERED)
def pipelines_page(dash: DashboardDep, viewer: ViewerDep) -> str:
    """Every pipeline run, newest first."""
    return pipelines.render_list(dash.store, viewer.within(dash.store))


@router.get("/pipelines/{run_id}", response_class=HTMLResponse, openapi_extra=FILTERED)
def pipeline_page(run_id: str, dash: DashboardDep, viewer: ViewerDep) -> str:
    """One pipeline run: its steps, their status, cache hits and outputs."""
    return pipelines.render_pipeline(dash.store, viewer.run(dash.store, run_id).id)


@router.get("/lineage", response_class=HTMLResponse)
def lineage_page(dash: DashboardDep, run: str | None = None, artifact: int | None = None,
                 dataset: int | None = None) -> str:
    """What a run, an artifact or a dataset version came from and led to."""
    return lineage.render(dash.store, run_id=run, artifact_id=artifact,
                          dataset_version_id=dataset)
