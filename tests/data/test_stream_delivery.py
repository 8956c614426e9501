"""Redis Streams delivery on a real server: poison messages never block the stream,
producer retries land once, a dead consumer's entries are reclaimed, and a message that
keeps failing is dead-lettered."""

from __future__ import annotations

import json
import time

import pytest
import redis

from lockgate.config import Settings
from lockgate.data import ColumnSpec, Contract, quarantined, read
from lockgate.data.stream import StreamConfig, StreamStats, _record, consume, land_messages, publish

pytestmark = pytest.mark.redis
REDIS_URL = "redis://127.0.0.1:6379/0"


def _rec(i: int, **extra: object) -> dict:
    return {"order_id": i, "amount": 10.0 + i, "ordered_at": "2025-01-01T00:00:00Z",
            "channel": "web", "email": f"c{i}@x.io", **extra}


def _config(stream: str, **kwargs: object) -> StreamConfig:
    return StreamConfig(REDIS_URL, stream, "orders", max_rows=100, max_seconds=0.1,
                        **kwargs)  # type: ignore[arg-type]


def _client() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL, decode_responses=True)


def test_poison_messages_are_quarantined_and_acked(settings: Settings, orders: Contract,
                                                   stream_key: str) -> None:
    client = _client()
    publish(client, stream_key, [_rec(1), _rec(2)])
    client.xadd(stream_key, {"json": "{not json"})
    client.xadd(stream_key, {"json": "[1, 2]"})
    bad_id = client.xadd(stream_key, {"json": json.dumps(_rec(3, colour="red"))})
    publish(client, stream_key, [_rec(4), _rec(5, amount=-3)])
    stats = consume(_config(stream_key), orders, settings=settings, idle_seconds=0.3)
    assert (stats.rows, stats.accepted, stats.quarantined) == (7, 3, 4)
    assert sorted(read("orders", settings=settings)["order_id"]) == [1, 2, 4]
    held = quarantined("orders", settings=settings)
    reasons = sorted(r for rs in held["reasons"].to_list() for r in rs)
    assert reasons == ["message:not_a_json_object", "message:not_a_json_object",
                       "range:amount", "schema:new:colour"]
    by_reason = {rs[0]: (q, raw) for rs, q, raw in held.select("reasons", "qid", "raw").rows()}
    qid, raw = by_reason["schema:new:colour"]
    assert qid.endswith(":" + bad_id) and json.loads(raw)["colour"] == "red"
    assert {"payload": "{not json"} in [json.loads(r) for r in held["raw"].to_list()]
    assert client.xpending(stream_key, "lockgate")["pending"] == 0


def test_producer_retry_lands_once_not_quarantined(settings: Settings, orders: Contract,
                                                   stream_key: str) -> None:
    client = _client()
    publish(client, stream_key, [_rec(1), _rec(2), _rec(2)])  # a retry inside one batch
    consume(_config(stream_key), orders, settings=settings, idle_seconds=0.3)
    publish(client, stream_key, [_rec(2), _rec(3)])  # ...and one in a later batch
    stats = consume(_config(stream_key), orders, settings=settings, idle_seconds=0.3)
    assert (stats.accepted, stats.quarantined, stats.deduplicated) == (1, 0, 1)
    assert sorted(read("orders", settings=settings)["order_id"]) == [1, 2, 3]
    assert quarantined("orders", settings=settings).height == 0


def test_event_id_dedupes_a_table_without_key(settings: Settings, stream_key: str) -> None:
    events = Contract("clicks", "1", (ColumnSpec("event_id", "string", nullable=False),
                                      ColumnSpec("page", "string"),
                                      ColumnSpec("sent_at", "datetime")))
    client = _client()
    publish(client, stream_key, [
        {"event_id": "e1", "page": "/a", "sent_at": "2025-01-01T00:00:00Z"},
        {"event_id": "e1", "page": "/a", "sent_at": "2025-01-01T00:00:02Z"},  # resent
        {"event_id": "e2", "page": "/a", "sent_at": "2025-01-01T00:00:00Z"}])
    config = StreamConfig(REDIS_URL, stream_key, "clicks", max_rows=100, max_seconds=0.1,
                          event_id="event_id")
    consume(config, events, settings=settings, idle_seconds=0.3)
    publish(client, stream_key, [{"event_id": "e2", "page": "/a"}])
    stats = consume(config, events, settings=settings, idle_seconds=0.3)
    assert stats.deduplicated == 1 and stats.accepted == 0
    assert sorted(read("clicks", settings=settings)["event_id"]) == ["e1", "e2"]


def test_dead_consumers_entries_are_reclaimed(settings: Settings, orders: Contract,
                                              stream_key: str) -> None:
    client = _client()
    dead = _config(stream_key, consumer="dead")
    client.xgroup_create(stream_key, dead.group, id="0", mkstream=True)
    publish(client, stream_key, [_rec(i) for i in range(10)])
    # The dead consumer read everything, landed the first 4, and died before acking.
    entries = client.xreadgroup(dead.group, "dead", {stream_key: ">"}, count=10)[0][1]
    land_messages(redis.Redis.from_url(REDIS_URL), dead,
                  orders, [(m, _record(f)) for m, f in entries[:4]], settings, StreamStats())
    client.xgroup_createconsumer(stream_key, dead.group, "dead")
    # ...(land_messages acked those 4; make them pending again as if the ack was lost)
    client.xclaim(stream_key, dead.group, "dead", 0, [m for m, _ in entries[:4]],
                  force=True)
    alive = _config(stream_key, consumer="alive", min_idle_seconds=0.05)
    time.sleep(0.1)
    stats = consume(alive, orders, settings=settings, idle_seconds=0.4)
    assert stats.reclaimed == 10 and stats.skipped == 4 and stats.accepted == 6
    assert sorted(read("orders", settings=settings)["order_id"]) == list(range(10))
    assert client.xpending(stream_key, dead.group)["pending"] == 0


def test_a_message_that_keeps_failing_is_dead_lettered(settings: Settings, orders: Contract,
                                                       stream_key: str) -> None:
    # `evolve` cannot take a field name longer than a column name may be: landing fails.
    evolving = orders.with_changes(on_schema_change={"new": "evolve"})
    client = _client()
    publish(client, stream_key, [_rec(1), _rec(2, **{"x" * 200: 1}), _rec(3)])
    config = _config(stream_key, max_deliveries=3, dead_letter=f"{stream_key}:dlq")
    try:
        stats = consume(config, evolving, settings=settings, idle_seconds=0.3)
        assert stats.dead_lettered == 1 and stats.accepted == 2
        assert sorted(read("orders", settings=settings)["order_id"]) == [1, 3]
        (entry,) = client.xrange(f"{stream_key}:dlq")
        fields = entry[1]
        assert fields["stream"] == stream_key and int(fields["deliveries"]) >= 3
        assert "ContractError" in fields["error"] and json.loads(fields["payload"])["order_id"] == 2
        assert client.xpending(stream_key, "lockgate")["pending"] == 0
    finally:
        client.delete(f"{stream_key}:dlq")
