"""Shadow deployment: `NAME@shadow` scores every request off the request path, both
answers are logged side by side, and the monitor reports their live difference."""

from __future__ import annotations

import httpx
import polars as pl
import pytest
from lockgate_model_cases import make_frame

from lockgate.config import Settings
from lockgate.monitoring.shadow_report import shadow_difference
from lockgate.registry import Registry, RegistryError
from lockgate.serving import BackgroundServer, ServeConfig, feedback_path
from lockgate.serving.shadow import shadow_path

FEATURES = ["age", "income", "tenure"]


def test_the_shadow_scores_every_request_and_both_answers_are_logged(
        world: tuple[Settings, Registry]) -> None:
    settings, registry = world
    registry.set_alias("churn", "shadow", 2, reason="try v2 on live traffic")
    frame = make_frame(60, seed=9)
    records = frame.select(FEATURES).to_dicts()
    config = ServeConfig("churn@production", port=0, log_flush_seconds=0.2)
    with BackgroundServer(config, settings) as server:
        assert httpx.get(f"{server.url}/model").json()["shadow_version"] == 2
        answers = []
        for chunk in (records[:30], records[30:]):
            answers += httpx.post(f"{server.url}/predict",
                                  json={"records": chunk}).json()["predictions"]
        assert all(a["request_id"] for a in answers)
        labels = [{"request_id": a["request_id"], "label": str(y)}
                  for a, y in zip(answers, frame["churned"], strict=True)]
        assert httpx.post(f"{server.url}/feedback", json={"items": labels}).status_code == 200
    logged = pl.read_delta(str(shadow_path(settings, "churn")))
    assert logged.height == 60
    assert set(logged["model_version"]) == {2} and set(logged["primary_version"]) == {1}
    by_id = {a["request_id"]: a["prediction"] for a in answers}
    assert all(by_id[r] == p for r, p in zip(logged["request_id"],
                                             logged["primary_prediction"], strict=True))
    difference = shadow_difference(shadow_path(settings, "churn"),
                                   feedback_path(settings, "churn"), 0, 4e9)
    assert difference is not None and difference["n"] == 60
    assert 0.0 <= difference["agreement"] <= 1.0
    paired = difference["labeled"]
    assert paired["n"] == 60 and paired["interval"] is not None
    assert paired["interval"][0] <= paired["difference"] <= paired["interval"][1]
    registry.set_alias("churn", "shadow", 1)  # the primary itself: no shadow scoring
    with BackgroundServer(config, settings) as server:
        assert httpx.get(f"{server.url}/model").json()["shadow_version"] is None


def test_stage_aliases_move_only_through_the_gates(world: tuple[Settings, Registry]) -> None:
    _, registry = world
    with pytest.raises(RegistryError, match="stage aliases move through"):
        registry.set_alias("churn", "production", 2)


def _wait_for(check, what: str, seconds: float = 60.0) -> None:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s: {what}")


def test_a_running_server_follows_the_shadow_alias_without_restart(
        world: tuple[Settings, Registry]) -> None:
    settings, registry = world
    registry.set_alias("churn", "shadow", 1, reason="the primary: no shadow yet")
    records = make_frame(20, seed=4).select(FEATURES).to_dicts()
    config = ServeConfig("churn@production", port=0, log_flush_seconds=0.2,
                         poll_seconds=0.2)
    before = _shadow_rows(settings)
    with BackgroundServer(config, settings) as server:
        def shadow_version() -> int | None:
            return httpx.get(f"{server.url}/model").json()["shadow_version"]

        assert shadow_version() is None
        httpx.post(f"{server.url}/predict", json={"records": records[:10]})
        registry.set_alias("churn", "shadow", 2, reason="try v2 while serving")
        _wait_for(lambda: shadow_version() == 2, "the server picks up churn@shadow -> v2")
        httpx.post(f"{server.url}/predict", json={"records": records[10:]})
        registry.set_alias("churn", "shadow", 1, reason="stop the experiment")
        _wait_for(lambda: shadow_version() is None, "the server drops the shadow")
        httpx.post(f"{server.url}/predict", json={"records": records[:5]})
    logged = _shadow_rows(settings)
    # only the 10 rows sent while v2 was the shadow: none before, none after
    assert logged - before == 10


def _shadow_rows(settings: Settings) -> int:
    path = shadow_path(settings, "churn")
    return pl.read_delta(str(path)).height if (path / "_delta_log").is_dir() else 0
