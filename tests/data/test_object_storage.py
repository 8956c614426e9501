"""Ingestion, time travel, quarantine and schema evolution with the data root on a real
S3-compatible server (``moto_server``): the Delta tables go through deltalake's own
object store with conditional puts, and nothing lands in a local folder."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from lockgate.artifacts import object_store_for
from lockgate.config import Settings
from lockgate.data import Contract, ingest, quarantined, read, versions
from lockgate.data.table import table_path
from lockgate.location import ObjectLocation
from lockgate.store import Store
from tests.data.test_ingestion import _csv, _good


def test_ingest_and_time_travel_on_s3(tmp_path: Path, s3_settings: Settings,
                                      orders: Contract) -> None:
    first = ingest(_csv(tmp_path / "a.csv", _good(0, 10)), "orders", orders,
                   settings=s3_settings)
    rows = [*_good(10, 5), "15,-3,2025-01-01,web,a@b", "x,5,2025-01-01,web,a@b"]
    second = ingest(_csv(tmp_path / "b.csv", rows), "orders", settings=s3_settings)
    assert (first.version, second.version) == (0, 1)
    assert (second.ingested, second.accepted, second.quarantined) == (7, 5, 2)
    assert read("orders", 0, settings=s3_settings).height == 10
    assert read("orders", settings=s3_settings).height == 15
    assert [v.version for v in versions("orders", settings=s3_settings)] == [0, 1]
    assert quarantined("orders", settings=s3_settings).height == 2
    again = ingest(_csv(tmp_path / "b.csv", rows), "orders", settings=s3_settings)
    assert not again.created  # the source ledger lives in the Delta commit, on S3 too
    location = table_path(s3_settings, "orders")
    assert isinstance(location, ObjectLocation)
    keys = [i.key for i in object_store_for(s3_settings.resolved_data_root).list()]
    assert any(k.startswith("orders/_delta_log/") for k in keys)
    assert any(k.startswith("_quarantine/orders/") for k in keys)
    assert not (s3_settings.home / "data").exists()
    Store.close_all()


def test_schema_evolution_on_s3(tmp_path: Path, s3_settings: Settings,
                                orders: Contract) -> None:
    evolving = orders.with_changes(on_schema_change="evolve")
    ingest(_csv(tmp_path / "a.csv", _good(0, 3)), "orders", evolving, settings=s3_settings)
    rows = [f"{i},{i},2025-01-01,web,{i % 2}" for i in range(3, 5)]
    header = "order_id,amount_eur,ordered_at,channel,vip"
    result = ingest(_csv(tmp_path / "b.csv", rows, header), "orders", settings=s3_settings)
    assert result.accepted == 2 and result.contract_version == "1+evolved.1"
    frame = read("orders", settings=s3_settings).sort("order_id")
    assert frame.height == 5 and frame["vip"].to_list()[-2:] == [1, 0]
    assert read("orders", 0, settings=s3_settings).height == 3
    Store.close_all()


_WRITER = """
import sys, uuid
import polars as pl
from lockgate.data.table import commit
from lockgate.location import parse_root

path = parse_root(sys.argv[1])
for i in range(int(sys.argv[3])):
    batch = f"{sys.argv[2]}-{i}-{uuid.uuid4().hex[:6]}"
    commit(path, pl.DataFrame({"writer": [sys.argv[2]], "i": [i]}), {"batch_id": batch})
"""


def test_concurrent_writers_on_s3_lose_no_commit(s3_bucket: str) -> None:
    """Two processes append to one table at once: with conditional puts every commit
    lands under its own version (none overwrites another, as a plain S3 rename would)."""
    import os
    import subprocess
    import sys

    from lockgate.data.table import commits, read_version
    from lockgate.location import parse_root

    uri = f"{s3_bucket}/data/shared"
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, uri, name, "6"],
                                env=os.environ.copy()) for name in ("a", "b")]
    assert [w.wait(timeout=300) for w in writers] == [0, 0]
    location = parse_root(uri)
    frame = read_version(location, "shared")
    assert frame.height == 12
    assert sorted(frame.filter(pl.col("writer") == "a")["i"].to_list()) == list(range(6))
    assert len(commits(location)) == 12
