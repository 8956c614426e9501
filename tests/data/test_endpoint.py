"""The HTTP ingest endpoint, and normalisation: the same record by CSV, HTTP and Redis
lands identical."""

from __future__ import annotations

from pathlib import Path

import httpx
import polars as pl
import pytest
import redis

from lockgate.config import Settings
from lockgate.data import Contract, ingest, read
from lockgate.data.endpoint import IngestServer
from lockgate.data.stream import StreamConfig, consume, publish


def test_post_rows_lands_a_batch(settings: Settings, orders: Contract) -> None:
    rows = [{"order_id": 1, "amount": 2.5, "ordered_at": "2025-01-01T00:00:00Z",
             "channel": "Web", "email": "a@b"},
            {"order_id": 2, "amount": -1, "ordered_at": "2025-01-01T00:00:00Z",
             "channel": "web", "email": "a@b"}]
    with IngestServer(settings, {"orders": orders}) as server, httpx.Client() as client:
        assert server.host == "127.0.0.1"
        first = client.post(f"{server.url}/tables/orders/rows", json=rows)
        assert first.status_code == 200, first.text
        body = first.json()
        assert (body["version"], body["accepted"], body["quarantined"]) == (0, 1, 1)
        assert body["reasons"] == {"range:amount": 1}
        retry = client.post(f"{server.url}/tables/orders/rows", json={"rows": rows}).json()
        assert (retry["created"], retry["accepted"], retry["quarantined"]) == (False, 0, 0)
        again = client.post(f"{server.url}/tables/orders/rows", json=rows[:1]).json()
        # a copy of a landed row: skipped, neither quarantined nor landed twice
        assert (again["accepted"], again["quarantined"], again["deduplicated"]) == (0, 0, 1)
        assert client.post(f"{server.url}/tables/orders/rows", json=[]).status_code == 400
        bad_name = client.post(f"{server.url}/tables/..%2Fetc/rows", json=rows)
        assert bad_name.status_code in (400, 404)
        unknown = client.post(f"{server.url}/tables/nope/rows", json=rows)
        assert unknown.status_code == 422 and "No contract for table `nope`" in unknown.text
        changed = client.post(f"{server.url}/tables/orders/rows",
                              json=[{"order_id": 9, "colour": "red"}])
        assert changed.status_code == 422 and "on_schema_change: fail" in changed.text
    assert read("orders", settings=settings)["channel"].to_list() == ["web"]


def test_small_posts_are_batched_and_answered_each(settings: Settings,
                                                   orders: Contract) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def post(i: int) -> dict:
        amount = -1 if i % 5 == 0 else i
        rows = [{"order_id": i, "amount": amount, "ordered_at": "2025-01-01T00:00:00Z",
                 "channel": "web", "email": "a@b"}]
        if i == 7:  # a request whose schema the contract refuses fails alone
            rows[0]["colour"] = "red"
        with httpx.Client() as client:
            response = client.post(f"{server.url}/tables/orders/rows", json=rows, timeout=30)
        return {"status": response.status_code, **response.json()}

    with IngestServer(settings, {"orders": orders}, batch_seconds=0.5) as server, \
            ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(post, range(20)))
    assert answers[7]["status"] == 422 and "colour" in answers[7]["detail"]
    ok = [a for i, a in enumerate(answers) if i != 7]
    assert all(a["status"] == 200 for a in ok)
    assert [a["quarantined"] for a in ok] == [1 if i % 5 == 0 else 0
                                             for i in range(20) if i != 7]
    assert answers[5]["reasons"] == {"range:amount": 1}
    versions = {a["version"] for a in ok}
    assert len(versions) < len(ok)  # merged: fewer Delta versions than requests
    frame = read("orders", settings=settings)
    assert sorted(frame["order_id"]) == [i for i in range(20) if i % 5 and i != 7]


@pytest.mark.redis
def test_same_record_by_csv_http_and_redis_lands_identical(
        tmp_path: Path, orders: Contract, redis_url: str, stream_key: str) -> None:
    record = {"order_id": 7, "amount": 12.0, "ordered_at": "2025-03-01T10:00:00+01:00",
              "channel": " SHOP ", "email": "x@y.z"}
    csv = tmp_path / "one.csv"
    csv.write_text("order_id,amount,ordered_at,channel,email\n"
                   '7,12,2025-03-01T10:00:00+01:00," SHOP ",x@y.z\n')
    frames = []
    for how in ("csv", "http", "redis"):
        settings = Settings(home=tmp_path / how)
        if how == "csv":
            ingest(csv, "orders", orders, settings=settings)
        elif how == "http":
            with IngestServer(settings, {"orders": orders}) as server:
                httpx.post(f"{server.url}/tables/orders/rows", json=[record]).raise_for_status()
        else:
            publish(redis.Redis.from_url(redis_url), stream_key, [record])
            consume(StreamConfig(redis_url, stream_key, "orders", max_seconds=0.1), orders,
                    settings=settings, idle_seconds=0.3)
        frames.append(read("orders", settings=settings))
    assert frames[0].equals(frames[1]) and frames[0].equals(frames[2])
    row = frames[0].row(0, named=True)
    assert row["channel"] == "shop" and row["ordered_at"].hour == 9
    assert frames[0].schema == frames[2].schema
    assert frames[0].schema["amount"] == pl.Float64
