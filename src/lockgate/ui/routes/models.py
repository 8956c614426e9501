"""Models: registered versions, one version, a trained model's run, monitoring."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from lockgate.ui.dashboard import DashboardDep
from lockgate.ui.pages import models, monitoring
from lockgate.ui.viewer import FILTERED, ViewerDep

router = APIRouter()


@router.get("/models", response_class=HTMLResponse, openapi_extra=FILTERED)
def models_page(dash: DashboardDep, viewer: ViewerDep) -> str:
    """Registered models and trained models not registered yet."""
    return models.render_list(dash.store, viewer)


# before /models/{name}/{version}: "run" is not a model name here
@router.get("/models/run/{run_id}", response_class=HTMLResponse, openapi_extra=FILTERED)
def trained_model_page(run_id: str, dash: DashboardDep, viewer: ViewerDep) -> str:
    """A model a run trained."""
    return models.render_trained(dash.store, dash.artifacts, viewer.run(dash.store, run_id).id)


@router.get("/models/{name}/{version}", response_class=HTMLResponse, openapi_extra=FILTERED)
def model_version_page(name: str, version: int, dash: DashboardDep, viewer: ViewerDep) -> str:
    """One registered version: card, gates, history."""
    return models.render_version(dash.store, dash.artifacts, viewer.model(name), version)


@router.get("/monitoring", response_class=HTMLResponse, openapi_extra=FILTERED)
def monitoring_page(dash: DashboardDep, viewer: ViewerDep, model: str | None = None) -> str:
    """Windows, alerts and incidents of the watched models."""
    return monitoring.render(dash.store, None if model is None else viewer.model(model),
                             viewer)
