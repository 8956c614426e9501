"""Fixtures of the pipelines tests: step modules written to files, and the executors
(the same suite runs on the local executor and on the session's local Ray cluster,
``ray_cluster`` in ``tests/conftest.py``)."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from lockgate.pipelines import Pipeline, load_pipeline


@pytest.fixture(params=["local", pytest.param("ray", marks=pytest.mark.ray)])
def executor(request: pytest.FixtureRequest) -> str:
    """The executor name; "ray" runs on the session's local Ray cluster."""
    if request.param == "ray":
        request.getfixturevalue("ray_cluster")
    return str(request.param)


ModuleWriter = Callable[[str], Path]


@pytest.fixture
def write_module(tmp_path: Path) -> ModuleWriter:
    """Write step code to a fresh module file (unique name: Ray workers outlive tests)."""
    name = f"steps_{uuid.uuid4().hex[:8]}"

    def write(source: str) -> Path:
        path = tmp_path / f"{name}.py"
        path.write_text(textwrap.dedent(source), encoding="utf-8")
        return path

    return write


def load(path: Path, attr: str = "pipe") -> Pipeline:
    """The pipeline defined in a written module."""
    return load_pipeline(f"{path}:{attr}")[0]
