"""Serving fixtures: a registry with two versions of `churn` (v1 in production) and a
real uvicorn server on 127.0.0.1 following `churn@production`."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "registry" / "cases"))

from lockgate_model_cases import registered

from lockgate.config import Settings
from lockgate.registry import Registry
from lockgate.serving import BackgroundServer, ServeConfig


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Registry]:
    """Settings and a registry shared by a test module (building models takes seconds)."""
    home = tmp_path_factory.mktemp("serving") / ".lockgate"
    settings = Settings(home=home, heartbeat_seconds=0.5, hardware_seconds=0.5,
                        metric_flush_seconds=0.2)
    registry, _ = registered(settings, versions=2)
    return settings, registry


@pytest.fixture(scope="module")
def server(world: tuple[Settings, Registry]) -> Iterator[BackgroundServer]:
    settings, _ = world
    config = ServeConfig("churn@production", port=0, log_flush_seconds=0.2, poll_seconds=0.2)
    with BackgroundServer(config, settings) as running:
        yield running
