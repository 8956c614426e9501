"""Profiles of a table version computed per data file and merged (#21): the same profile
as the whole table read at once, and the same on the local and the Ray executor, whose
workers profile the partitions while the driver merges."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from lockgate.config import Settings
from lockgate.data import Contract, ingest, read
from lockgate.data.ingestion import IngestOptions
from lockgate.quality import profile
from lockgate.quality.profile import Profile
from lockgate.quality.stored_profile import profile_for, version_files
from lockgate.quality.table_profile import profile_files
from lockgate.store import Store
from tests.quality.orders_cases import CONTRACT, batch


class Recording:
    """An executor that records what it was asked to map, then lets the real one run it."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls = inner, []

    def map(self, func: Callable[..., Any], items: Sequence[Any], *,
            shared: tuple[Any, ...] = (), progress: Any = None) -> list[Any]:
        self.calls.append((func.__name__, list(items)))
        return self.inner.map(func, items, shared=shared, progress=progress)


@pytest.fixture
def chunked_orders(settings: Settings, tmp_path: Path) -> Settings:
    """`orders` with two versions: a CSV landed in chunks (one file each), then a batch
    with a column the first lacked (schema evolution: null in the older files)."""
    contract = Contract.from_dict(CONTRACT)
    csv = tmp_path / "orders.csv"
    batch(0, n=4000, seed=1).write_csv(csv)
    landed = ingest(csv, "orders", contract, settings=settings,
                    options=IngestOptions(chunk_bytes=20_000))
    assert landed.chunks >= 4
    evolved = Contract.from_dict({**CONTRACT, "version": "2", "columns": [
        *CONTRACT["columns"], {"name": "score", "type": "float"}]})
    extra = batch(4000, n=500, seed=2).with_columns(
        score=pl.Series(np.random.default_rng(3).normal(size=500)))
    ingest(extra, "orders", evolved, settings=settings)
    return settings


def _same_as_whole(merged: Profile, whole: Profile, values: dict[str, np.ndarray]) -> None:
    """Counts, extremes, categories and distinct sketches equal; moments to rounding;
    each quantile within the merged sketch's stated rank error of the true rank."""
    assert merged.rows == whole.rows and list(merged.columns) == list(whole.columns)
    assert merged.roles == whole.roles
    for name, ours in merged.columns.items():
        theirs = whole[name]
        assert (ours.kind, ours.count, ours.nulls, ours.nans) == \
            (theirs.kind, theirs.count, theirs.nulls, theirs.nans), name
        assert (ours.minimum, ours.maximum) == (theirs.minimum, theirs.maximum), name
        assert ours.categories == theirs.categories and ours.other_count == theirs.other_count
        assert ours.distinct == theirs.distinct, name  # KMV of the union: exact
        if ours.mean is not None:
            assert ours.mean == pytest.approx(theirs.mean, rel=1e-12)
            assert ours.std == pytest.approx(theirs.std, rel=1e-9)
        if ours.sketch is not None and ours.valid:
            if theirs.sketch.exact:  # few distinct values: kept exactly on both sides
                assert ours.sketch.to_dict() == theirs.sketch.to_dict(), name
                continue
            probs = np.array([0.05, 0.25, 0.5, 0.75, 0.95])
            sorted_values = values[name]
            got = ours.sketch.quantile(probs)
            ranks = np.searchsorted(sorted_values, got, side="right") / len(sorted_values)
            slack = ours.sketch.relative_rank_error + 1 / len(sorted_values)
            assert np.all(np.abs(ranks - probs) <= slack + 1e-9), (name, ranks, slack)


def test_a_merged_profile_of_the_files_is_the_profile_of_the_whole_table(
        chunked_orders: Settings) -> None:
    found = Store.open(chunked_orders).dataset_version("orders", 1)
    files = version_files(found, "snapshot", chunked_orders)
    assert len(files.files) >= 5
    whole_frame = read("orders", 1, settings=chunked_orders)
    contract = Contract.from_dict(found.details["contract"])
    values = {name: np.sort(whole_frame[name].drop_nulls().cast(pl.Float64).to_numpy())
              for name in ("id", "amount", "label", "score")}
    recording = Recording(_local())
    merged = profile_files(files, contract, executor=recording)
    _same_as_whole(merged, profile(whole_frame, contract=contract), values)
    assert recording.calls == [("profile_file", list(files.files))]  # one task per file
    assert merged["score"].nulls == 4000  # absent from the older files: null there
    batch_only = version_files(found, "batch", chunked_orders)
    assert len(batch_only.files) == 1
    assert profile_files(batch_only, contract).rows == 500


@pytest.mark.ray
def test_on_ray_the_workers_profile_the_files_and_the_driver_merges(
        chunked_orders: Settings, ray_cluster: None) -> None:
    from lockgate.pipelines.executors.ray import RayExecutor

    found = Store.open(chunked_orders).dataset_version("orders", 1)
    files = version_files(found, "snapshot", chunked_orders)
    contract = Contract.from_dict(found.details["contract"])
    local = profile_files(files, contract, executor=_local())
    ray = RayExecutor()
    try:
        recording = Recording(ray)
        on_ray = profile_files(files, contract, executor=recording)
        stored = profile_for("orders", 1, settings=chunked_orders, executor=ray)
    finally:
        ray.close()
    assert recording.calls == [("profile_file", list(files.files))]
    assert on_ray.to_dict() == local.to_dict()
    assert stored.to_dict() == local.to_dict()
    assert profile_for("orders", 1, settings=chunked_orders).to_dict() == local.to_dict()


def _local() -> Any:
    from lockgate.pipelines.executors.factory import make_executor

    return make_executor("local", start=False)
