"""Lineage trees built from the store's edges, and their Graphviz form."""

from __future__ import annotations

import pytest

from lockgate.config import Settings
from lockgate.errors import NotFoundError
from lockgate.pipelines import run_pipeline
from lockgate.pipelines.lineage import lineage
from lockgate.store import Store

from .conftest import ModuleWriter, load
from .test_runner import CHAIN


def test_upstream_and_downstream_of_an_artifact(settings: Settings,
                                                write_module: ModuleWriter) -> None:
    result = run_pipeline(load(write_module(CHAIN)), settings=settings, max_workers=1)
    store = Store.open(settings)
    bumped = result.outputs["bumped"]
    found = lineage(store, f"artifact:{bumped.id}")
    assert found.upstream.children[0].label.startswith("step bump")
    xs_id = result.outputs["xs"].id
    assert found.upstream.children[0].children[0].label.startswith(f"artifact {xs_id} make.xs")
    assert found.upstream.children[0].children[0].children[0].label.startswith("step make")
    assert found.downstream.children[0].label.startswith("step total")
    dot = found.to_dot()
    assert f'"artifact:{bumped.id}" [label=' in dot and "style=bold" in dot
    assert f'"run:{result.step("bump").run_id}" -> "artifact:{bumped.id}";' in dot

    whole = lineage(store, result.run_id[:8])
    produced = {child.label.split()[2] for child in whole.downstream.children}
    assert produced == {"make.xs", "bump.bumped", "total.result"}
    assert whole.upstream.children == ()


def test_unknown_targets_are_refused(settings: Settings) -> None:
    store = Store.open(settings)
    with pytest.raises(NotFoundError, match="No run with id `zzzz`"):
        lineage(store, "zzzz")
    with pytest.raises(NotFoundError, match="No artifact with id 999"):
        lineage(store, "artifact:999")
