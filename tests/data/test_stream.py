"""Redis Streams: exactly-once landing, a consumer killed with SIGKILL and restarted."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl
import pytest
import redis

from lockgate.config import Settings
from lockgate.data import Contract, SourceUnreachableError, quarantined, read
from lockgate.data import table as delta
from lockgate.data.stream import StreamConfig, consume, publish
from lockgate.store import Store

pytestmark = pytest.mark.redis
REDIS_URL = "redis://127.0.0.1:6379/0"


def _records(n: int, start: int = 0, bad_every: int = 0) -> list[dict]:
    out = []
    for i in range(start, start + n):
        amount = -1 if bad_every and i % bad_every == 0 else round(i * 1.5, 2)
        out.append({"order_id": i, "amount": amount, "ordered_at": "2025-01-01T00:00:00Z",
                    "channel": "web", "email": f"c{i}@x.io"})
    return out


def test_stream_lands_each_message_once(settings: Settings, orders: Contract,
                                        stream_key: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    publish(client, stream_key, _records(250, bad_every=50))
    config = StreamConfig(REDIS_URL, stream_key, "orders", max_rows=100, max_seconds=0.2)
    stats = consume(config, orders, settings=settings, idle_seconds=0.5)
    assert (stats.rows, stats.accepted, stats.quarantined) == (250, 245, 5)
    assert stats.batches == 3 and stats.versions == [0, 1, 2]
    frame = read("orders", settings=settings)
    assert frame.height == 245 and frame["order_id"].n_unique() == 245
    assert quarantined("orders", settings=settings).height == 5
    again = consume(config, orders, settings=settings, idle_seconds=0.3)
    assert again.rows == 0  # everything acknowledged
    versions = Store.open(settings).dataset_versions("orders")
    assert sum(v.rows_ingested for v in versions) == 250
    assert versions[0].details["stream"]["key"] == stream_key


def test_redelivered_messages_are_skipped(settings: Settings, orders: Contract,
                                          stream_key: str) -> None:
    """A crash after the commit and before XACK: the redelivered batch lands nothing."""
    client = redis.Redis.from_url(REDIS_URL)
    publish(client, stream_key, _records(30))
    config = StreamConfig(REDIS_URL, stream_key, "orders", max_rows=30, max_seconds=0.2)
    consume(config, orders, settings=settings, max_batches=1)
    # Make the messages pending again, as if the ack had never happened.
    client.xgroup_destroy(stream_key, config.group)
    client.xgroup_create(stream_key, config.group, id="0")
    stats = consume(config, orders, settings=settings, idle_seconds=0.3)
    assert stats.skipped == 30 and stats.rows == 0
    assert read("orders", settings=settings).height == 30


def test_unreachable_redis_is_a_clear_error(settings: Settings, orders: Contract) -> None:
    config = StreamConfig("redis://127.0.0.1:1/0", "s", "orders")
    with pytest.raises(SourceUnreachableError, match=r"Cannot reach Redis at redis://127"):
        consume(config, orders, settings=settings, idle_seconds=0.1)
    assert delta.open_table(delta.table_path(settings, "orders")) is None


_CONSUMER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from lockgate.config import Settings
    from lockgate.data import Contract
    from lockgate.data.stream import StreamConfig, consume
    home, url, stream, contract = sys.argv[1:5]
    settings = Settings(home=Path(home))
    config = StreamConfig(url, stream, "orders", consumer="c1", max_rows=40, max_seconds=0.05)
    consume(config, Contract.from_yaml(contract), settings=settings,
            idle_seconds=float(sys.argv[5]))
""")


def test_kill_minus_nine_and_restart_loses_and_duplicates_nothing(
        tmp_path: Path, orders: Contract, stream_key: str) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home)
    contract_path = tmp_path / "orders.yaml"
    contract_path.write_text(orders.to_yaml())
    total, bad_every = 2000, 97
    client = redis.Redis.from_url(REDIS_URL)
    publish(client, stream_key, _records(total, bad_every=bad_every))
    script = tmp_path / "consumer.py"
    script.write_text(_CONSUMER)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    rng = random.Random(4)
    path = delta.table_path(settings, "orders")
    kills = 0
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, str(script), str(home), REDIS_URL, stream_key,
                                 str(contract_path), "30"], env=env)
        target = (delta.current_version(path) or 0) + rng.randint(2, 4)
        deadline = time.monotonic() + 60
        while (delta.current_version(path) or -1) < target and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.random() * 0.2)  # die at an arbitrary instant of a later batch
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
    done = subprocess.run([sys.executable, str(script), str(home), REDIS_URL, stream_key,
                           str(contract_path), "1.5"], env=env, timeout=120)
    assert done.returncode == 0 and kills == 3
    frame = read("orders", settings=settings)
    held = quarantined("orders", settings=settings)
    bad = {i for i in range(total) if i % bad_every == 0}
    assert frame["order_id"].n_unique() == frame.height  # no duplicates
    assert set(frame["order_id"].to_list()) == set(range(total)) - bad  # nothing lost
    held_ids = {int(pl.Series([r]).str.json_decode().struct.field("order_id")[0])
                for r in held["raw"].to_list()}
    assert held.height == len(bad) and held_ids == bad
    versions = Store.open(settings).dataset_versions("orders")
    assert sum(v.rows_accepted for v in versions) == total - len(bad)
    assert sum(v.rows_quarantined for v in versions) == len(bad)
    assert client.xpending(stream_key, "lockgate")["pending"] == 0


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"max_rows": 0}, r"max_rows must be > 0, got 0"),
    ({"max_seconds": 0.0}, r"max_seconds must be > 0, got 0.0"),
    ({"consumer": ""}, r"consumer must not be empty"),
])
def test_stream_config_refuses_bounds_that_would_spin(kwargs: dict, match: str) -> None:
    from lockgate.errors import ConfigError

    with pytest.raises(ConfigError, match=match):
        StreamConfig(REDIS_URL, "s", "orders", **kwargs)
