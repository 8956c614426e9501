"""Models: registered versions, one version, a trained model's run, monitoring."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from lockgate.ui.dashboard import DashboardDep
from lockgate.ui.pages import models, monitoring

router = APIRouter()


@router.get("/models", response_class=HTMLResponse)
def models_page(dash: DashboardDep) -> str:
    """Registered models and trained models not registered yet."""
    return models.render_list(dash.store)


# before /models/{name}/{version}: "run" is not a model name here
@router.get("/models/run/{run_id}", response_class=HTMLResponse)
def trained_model_page(run_id: str, dash: DashboardDep) -> str:
    """A model a run trained."""
    return models.render_trained(dash.store, dash.artifacts, run_id)


@router.get("/models/{name}/{version}", response_class=HTMLResponse)
def model_version_page(name: str, version: int, dash: DashboardDep) -> str:
    """One registered version: card, gates, history."""
    return models.render_version(dash.store, dash.artifacts, name, version)


@router.get("/monitoring", response_class=HTMLResponse)
def monitoring_page(dash: DashboardDep, model: str | None = None) -> str:
    """Windows, alerts and incidents of the watched models."""
    return monitoring.render(dash.store, model)
