"""Data-version-aware caching and lineage: tables declared as step inputs, tables read
with lg.data.read inside a step body, library versions in the key, resume by key, and
`explain-cache` saying why."""

from __future__ import annotations

import textwrap
from pathlib import Path

import polars as pl
import pytest

from lockgate.config import Settings
from lockgate.data import ColumnSpec, Contract, ingest
from lockgate.pipelines import PipelineError, cache, resume_pipeline, run_pipeline
from lockgate.pipelines.cache import libraries
from lockgate.pipelines.cache_explanation import explain_cache
from lockgate.store import Store

from .conftest import ModuleWriter, load

CONTRACT = Contract(table="orders", version="1", primary_key=("id",), columns=(
    ColumnSpec("id", "int", nullable=False), ColumnSpec("amount", "float")))


def _land(settings: Settings, start: int, stop: int) -> int:
    frame = pl.DataFrame({"id": list(range(start, stop)),
                          "amount": [float(i) for i in range(start, stop)]})
    result = ingest(frame, "orders", CONTRACT, settings=settings)
    assert result.dataset_version is not None
    return result.dataset_version.version


READS = """
import lockgate as lg
from lockgate.pipelines import Pipeline, node, step


@step
def count() -> int:
    return lg.data.read("orders").height


@step(inputs=["orders@latest"])
def declared() -> int:
    return lg.data.read("orders").height


@step(inputs=["orders@v0"])
def pinned_old() -> int:
    return lg.data.read("orders").height


@step(inputs=["nosuch@latest"])
def missing() -> int:
    return 0


body = Pipeline("body", [node(count, outputs="n")])
declaring = Pipeline("declaring", [node(declared, outputs="n")])
old = Pipeline("old", [node(pinned_old, outputs="n")])
broken = Pipeline("broken", [node(missing, outputs="n")])
"""


def test_a_read_inside_the_step_body_invalidates_the_cache_when_the_table_grows(
        write_module: ModuleWriter, settings: Settings) -> None:
    v0 = _land(settings, 0, 3)
    pipe = load(write_module(READS), "body")
    first = run_pipeline(pipe, settings=settings, max_workers=1)
    again = run_pipeline(pipe, settings=settings, max_workers=1)
    assert first.load("n", settings) == 3 and again.statuses() == {"count": "CACHED"}
    v1 = _land(settings, 3, 5)
    grown = run_pipeline(pipe, settings=settings, max_workers=1)
    assert grown.statuses() == {"count": "FINISHED"}  # was CACHED with the stale 3
    assert grown.load("n", settings) == 5
    store = Store.open(settings)
    edges = [e for e in store.lineage(run_id=grown.step("count").run_id)
             if e.dataset_version_id is not None]
    assert [store.dataset_version_by_id(e.dataset_version_id).version for e in edges] == [v1]
    assert edges[0].direction == "consumed"
    why = explain_cache(store, grown.run_id, "count")
    assert not why.hit
    assert f"it read `orders@v{v0}` and the table is now at v{v1}" in why.reason
    assert why.reads == ({"table": "orders", "version": v1, "latest": True},)
    hit = explain_cache(store, again.run_id, "count")
    assert hit.hit and first.step("count").run_id in hit.reason


def test_a_declared_input_is_pinned_at_run_start_keyed_and_in_lineage(
        write_module: ModuleWriter, settings: Settings) -> None:
    v0 = _land(settings, 0, 3)
    pipe = load(write_module(READS), "declaring")
    first = run_pipeline(pipe, settings=settings, max_workers=1)
    store = Store.open(settings)
    assert store.tags(first.run_id)["lockgate.tables"] == f'{{"orders": {v0}}}'
    edges = [e for e in store.lineage(run_id=first.step("declared").run_id)
             if e.dataset_version_id is not None]
    assert {e.role for e in edges} >= {"input orders"}
    assert run_pipeline(pipe, settings=settings, max_workers=1).statuses() == {
        "declared": "CACHED"}
    v1 = _land(settings, 3, 5)
    grown = run_pipeline(pipe, settings=settings, max_workers=1)
    assert grown.statuses() == {"declared": "FINISHED"}
    assert grown.load("n", settings) == 5
    why = explain_cache(store, grown.run_id, "declared")
    assert f"table `orders`: {v0} -> {v1}" in why.changes


def test_a_pinned_declared_version_is_what_the_body_reads(
        write_module: ModuleWriter, settings: Settings) -> None:
    _land(settings, 0, 3)
    _land(settings, 3, 5)
    result = run_pipeline(load(write_module(READS), "old"), settings=settings, max_workers=1)
    assert result.load("n", settings) == 3


def test_an_unknown_declared_table_is_refused_before_anything_runs(
        write_module: ModuleWriter, settings: Settings) -> None:
    _land(settings, 0, 3)
    with pytest.raises(PipelineError, match="step `missing` declares input `nosuch@latest`"):
        run_pipeline(load(write_module(READS), "broken"), settings=settings)
    assert Store.open(settings).list_runs(kind="pipeline") == []


def _fake_distribution(folder: Path, version: str) -> None:
    package = folder / "fakelib_i13"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text("def double(x):\n    return 2 * x\n")
    for old in folder.glob("fakelib_i13-*.dist-info"):
        for file in old.iterdir():
            file.unlink()
        old.rmdir()
    info = folder / f"fakelib_i13-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: fakelib-i13\n"
                                   f"Version: {version}\n")
    (info / "top_level.txt").write_text("fakelib_i13\n")


LIBRARY = """
import fakelib_i13

from lockgate.pipelines import Pipeline, node, step


@step
def uses() -> int:
    return fakelib_i13.double(21)


pipe = Pipeline("library", [node(uses, outputs="n")])
"""


def test_a_library_upgrade_is_a_cache_miss(write_module: ModuleWriter, settings: Settings,
                                           tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_distribution(tmp_path, "1.0")
    # the fake distribution sits beside the steps (so workers import it) and counts as
    # installed, like anything in site-packages
    roots = [*cache._library_roots(), str((tmp_path / "fakelib_i13").resolve())]
    monkeypatch.setattr(cache, "_ROOTS", roots)
    path = write_module(LIBRARY)
    pipe = load(path)
    assert libraries(pipe.nodes[0].func)["fakelib-i13"] == "1.0"
    assert run_pipeline(pipe, settings=settings, max_workers=1).ok
    assert run_pipeline(pipe, settings=settings, max_workers=1).statuses() == {"uses": "CACHED"}
    _fake_distribution(tmp_path, "2.0")
    upgraded = run_pipeline(pipe, settings=settings, max_workers=1)
    assert upgraded.statuses() == {"uses": "FINISHED"}
    why = explain_cache(Store.open(settings), upgraded.run_id, "uses")
    assert "library `fakelib-i13`: \"1.0\" -> \"2.0\"" in why.changes


def test_library_versions_of_the_demo_steps_are_found() -> None:
    from lockgate.demo.pipelines import fit, load

    assert "scikit-learn" in libraries(fit)
    assert "polars" in libraries(load)
    assert not any(name in libraries(fit) for name in ("lightgbm", "skops"))  # not used


CHANGING = """
from pathlib import Path

from lockgate.pipelines import Pipeline, node, step


def helper(x):
    return x + {increment}


@step
def make(n: int = 3) -> list:
    return list(range(n))


@step
def bump(xs: list) -> list:
    return [helper(x) for x in xs]


@step
def total(xs: list, flag: str) -> int:
    if not Path(flag).exists():
        raise RuntimeError("not yet")
    return sum(xs)


pipe = Pipeline("changing", [
    node(make, outputs="xs"),
    node(bump, inputs="xs", outputs="bumped"),
    node(total, inputs="bumped", outputs="result"),
])
"""


def test_resume_reruns_steps_whose_code_changed(write_module: ModuleWriter,
                                                settings: Settings, tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    path = write_module(textwrap.dedent(CHANGING).replace("{increment}", "1"))
    failed = run_pipeline(load(path), {"total": {"flag": str(flag)}}, settings=settings,
                          max_workers=1)
    assert failed.statuses() == {"make": "FINISHED", "bump": "FINISHED", "total": "FAILED"}
    path.write_text(textwrap.dedent(CHANGING).replace("{increment}", "100"))
    flag.write_text("go")
    resumed = resume_pipeline(failed.run_id, settings=settings, max_workers=1)
    assert resumed.statuses() == {"make": "CACHED", "bump": "FINISHED", "total": "FINISHED"}
    assert resumed.load("result", settings) == 100 + 101 + 102  # not the stale 1 + 2 + 3
    store = Store.open(settings)
    assert store.tags(resumed.run_id)["lockgate.resume_changed"] == "bump"
    why = explain_cache(store, resumed.run_id, "bump")
    assert "resume re-runs it, its key changed" in why.reason
    assert "the step's code (or a helper or constant it uses) changed" in why.changes
