"""Registry fixtures: the shared model cases, a store and a registry."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "cases"))

from lockgate.config import Settings
from lockgate.registry import Registry
from lockgate.store import Store


@pytest.fixture
def store(settings: Settings) -> Store:
    return Store.open(settings)


@pytest.fixture
def registry(store: Store, settings: Settings) -> Registry:
    return Registry(store, settings)
