"""Each router of the prediction API mounted alone on a bare FastAPI app, with a real
:class:`ServingState`, behind the real guard, served by uvicorn on 127.0.0.1; and the
fast path of ``POST /predict``, which reaches the endpoint without any router."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from fastapi import APIRouter, FastAPI

from lockgate.config import Settings
from lockgate.registry import Registry
from lockgate.security import HttpGuard, ServerThread, server_config
from lockgate.serving import ServeConfig, free_port
from lockgate.serving.app import PredictFastPath, lifespan
from lockgate.serving.routes import feedback, metrics, predict, status
from lockgate.serving.security import serve_policy
from lockgate.serving.state import ServingState

GOOD = {"age": 40, "income": 52000.0, "tenure": 3.5}
TOKEN = "serving-router-token-0123456789"


@contextmanager
def alone(settings: Settings, *routers: APIRouter, fast_path: bool = False,
          token: str | None = None) -> Iterator[tuple[str, ServingState]]:
    """A bare app: the given routers (maybe none), the real guard, a started state."""
    config = ServeConfig("churn@production", port=0, log_flush_seconds=0.2,
                         poll_seconds=0.2, token=token)
    state = ServingState(config, settings)
    app = FastAPI(lifespan=lifespan)
    state.attach(app)
    for router in routers:
        app.include_router(router)
    if fast_path:
        app.add_middleware(PredictFastPath, endpoint=predict.predict)
    policy = serve_policy(config, settings)
    app.add_middleware(HttpGuard, policy=policy)
    with ServerThread(server_config(app, policy, port=free_port(), lifespan="on")) as server:
        yield server.url, state


def test_the_predict_router_alone_scores_and_logs(world: tuple[Settings, Registry]) -> None:
    settings, _ = world
    with alone(settings, predict.router) as (url, state):
        one = httpx.post(url + "/predict", json=GOOD, headers={"x-request-id": "alone-1"})
        assert one.status_code == 200, one.text
        assert (one.json()["request_id"], one.json()["model_version"]) == ("alone-1", 1)
        bad = httpx.post(url + "/predict", json={**GOOD, "age": "old"})
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "age"
        assert httpx.get(url + "/health").status_code == 404  # another router's route
        assert "alone-1" in state.recent
    assert state.predictions is not None and state.predictions.rows_written == 1


def test_the_fast_path_reaches_predict_without_any_router(
        world: tuple[Settings, Registry]) -> None:
    """No router at all: only PredictFastPath can answer POST /predict, inside the guard."""
    settings, _ = world
    with alone(settings, fast_path=True) as (url, state):
        answer = httpx.post(url + "/predict", json={"records": [GOOD, GOOD]})
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["predictions"]) == 2
        assert httpx.post(url + "/predict", content=b"{nope",
                          headers={"content-type": "application/json"}).status_code == 422
        assert httpx.post(url + "/predict", json=GOOD,
                          headers={"host": "evil.example"}).status_code == 403
        assert httpx.get(url + "/predict").status_code == 404  # GET is not the fast path
        assert state.metrics.predictions == 2


def test_the_feedback_router_joins_what_predict_logged(
        world: tuple[Settings, Registry]) -> None:
    settings, _ = world
    with alone(settings, predict.router, feedback.router) as (url, state):
        rid = httpx.post(url + "/predict", json=GOOD).json()["request_id"]
        stored = httpx.post(url + "/feedback", json={"request_id": rid, "label": "1"})
        assert stored.json() == {"accepted": 1}
        unknown = httpx.post(url + "/feedback", json={"request_id": "never", "label": "1"})
        assert unknown.status_code == 404 and "never" in unknown.text
        wrong = httpx.post(url + "/feedback", json={"request_id": rid, "label": "7"})
        assert wrong.status_code == 422
    assert state.feedback is not None and state.feedback.rows_written == 1


def test_the_status_and_metrics_routers_alone(world: tuple[Settings, Registry]) -> None:
    settings, _ = world
    with alone(settings, status.router, metrics.router, token=TOKEN) as (url, _state):
        health = httpx.get(url + "/health")  # open without the token
        assert health.status_code == 200 and health.json()["model_version"] == 1
        assert httpx.get(url + "/model").status_code == 401
        auth = {"authorization": f"Bearer {TOKEN}"}
        described = httpx.get(url + "/model", headers=auth).json()
        assert described["model_name"] == "churn" and described["alias"] == "production"
        text = httpx.get(url + "/metrics", headers=auth).text
        assert "# TYPE lockgate_requests_total counter" in text
