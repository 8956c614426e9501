"""Redis Streams ingestion: a consumer group member that lands records in micro-batches
(row-count and time bounds), at-least-once from Redis and exactly-once into the table.

Exactly-once landing: each micro-batch's Delta commit carries an application transaction
``(redis:<stream>:<group>:<consumer>, position of its last message)``. After a crash the
consumer re-reads its pending messages, skips those at or below the committed position,
lands the rest, and only then acknowledges. A kill at any instant loses nothing (unacked
messages are redelivered) and duplicates nothing (landed positions are skipped).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.dataset  # noqa: F401  (loaded now, not inside the first micro-batch's lag)
import redis

from lockgate.config import Settings, load_settings
from lockgate.data import table as delta
from lockgate.data.contract import Contract
from lockgate.data.errors import SourceError, SourceUnreachableError
from lockgate.data.ingestion import IngestResult, Landing, land, resolve_contract
from lockgate.data.source import Batch, frame_hash, records_frame
from lockgate.errors import ConfigError

_SEQ_BITS = 20


@dataclass(frozen=True, slots=True)
class StreamConfig:
    """Where to consume from and how to cut micro-batches.

    Attributes:
        redis_url: e.g. ``redis://127.0.0.1:6379/0``.
        stream: the Redis stream key.
        table: the lockgate table to land in.
        group: consumer group name.
        consumer: this consumer's name; restart with the same name to resume its
            pending messages.
        max_rows: a micro-batch lands when it holds this many rows...
        max_seconds: ...or when its first row has waited this long.
    """

    redis_url: str
    stream: str
    table: str
    group: str = "lockgate"
    consumer: str = "consumer-1"
    max_rows: int = 5_000
    max_seconds: float = 1.0

    def __post_init__(self) -> None:
        # A zero bound would make the consumer spin without ever reading a message.
        problems = [f"{name} must be > 0, got {getattr(self, name)}"
                    for name in ("max_rows", "max_seconds") if not getattr(self, name) > 0]
        problems += [f"{name} must not be empty" for name in ("stream", "table", "group",
                                                              "consumer")
                     if not getattr(self, name)]
        if problems:
            raise ConfigError("Invalid StreamConfig: " + "; ".join(problems) + ".")

    @property
    def app_id(self) -> str:
        """The Delta application id under which this consumer's position is committed."""
        return f"redis:{self.stream}:{self.group}:{self.consumer}"


@dataclass(slots=True)
class StreamStats:
    """What a consumer did so far."""

    batches: int = 0
    rows: int = 0
    accepted: int = 0
    quarantined: int = 0
    skipped: int = 0
    max_lag_seconds: float = 0.0
    versions: list[int] = field(default_factory=list)


def encode_id(message_id: str) -> int:
    """A Redis stream id ``<ms>-<seq>`` as one increasing integer (a Delta txn version)."""
    ms, _, seq = message_id.partition("-")
    if int(seq or 0) >= 1 << _SEQ_BITS:
        raise SourceError(f"Stream id {message_id} has a sequence too large to track.")
    return (int(ms) << _SEQ_BITS) | int(seq or 0)


def connect(url: str) -> redis.Redis:
    """A Redis client that has answered a ping.

    Raises:
        SourceUnreachableError: the server does not answer.
    """
    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=30,
                                  decode_responses=True)
    try:
        client.ping()
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise SourceUnreachableError(
            f"Cannot reach Redis at {url}: {str(exc).rstrip('.')}. Start it or fix --redis; "
            "nothing was read."
        ) from exc
    return client


def consume(config: StreamConfig, contract: Contract | str | Path | None = None, *,
            settings: Settings | None = None, stop: threading.Event | None = None,
            idle_seconds: float | None = None, max_batches: int | None = None,
            on_batch: Callable[[IngestResult], None] | None = None) -> StreamStats:
    """Consume a Redis stream into a table until stopped.

    Args:
        config: stream, group, consumer and micro-batch bounds.
        contract: the table's contract (default: its current one).
        settings: lockgate settings.
        stop: set it to stop after the current micro-batch.
        idle_seconds: stop after this long without messages (None: run until stopped).
        max_batches: stop after landing this many micro-batches.
        on_batch: called with each micro-batch's result.

    Raises:
        SourceUnreachableError: Redis cannot be reached.
        ContractError: no contract for a new table.
    """
    settings = settings or load_settings()
    resolved = resolve_contract(config.table, contract, settings)
    client = connect(config.redis_url)
    _ensure_group(client, config)
    stats = StreamStats()
    stop = stop or threading.Event()
    pending = True  # first drain what this consumer was given before a crash
    idle_since = time.monotonic()
    while not stop.is_set():
        messages = _read(client, config, pending, stop)
        if pending and not messages:
            pending = False
            continue
        if not messages:
            if idle_seconds is not None and time.monotonic() - idle_since >= idle_seconds:
                break
            continue
        idle_since = time.monotonic()
        result = land_messages(client, config, resolved, messages, settings, stats)
        if result is not None and on_batch:
            on_batch(result)
        if max_batches is not None and stats.batches >= max_batches:
            break
    return stats


def land_messages(client: redis.Redis, config: StreamConfig, contract: Contract,
                  messages: list[tuple[str, dict[str, Any]]], settings: Settings,
                  stats: StreamStats) -> IngestResult | None:
    """Land one micro-batch exactly once, then acknowledge it."""
    path = delta.table_path(settings, config.table)
    committed = delta.position(path, config.app_id)
    fresh = [(mid, rec) for mid, rec in messages
             if committed is None or encode_id(mid) > committed]
    stats.skipped += len(messages) - len(fresh)
    result = None
    if fresh:
        records = [rec for _, rec in fresh]
        frame = records_frame(records)
        first, last = fresh[0][0], fresh[-1][0]
        batch = Batch(frame, f"redis:{config.stream}", frame_hash(frame), records=True)
        landing = Landing(
            batch_id=f"s{encode_id(first):x}-{encode_id(last):x}",
            transaction=(config.app_id, encode_id(last)), idempotent=False,
            row_ids=tuple(mid for mid, _ in fresh),
            positions=tuple(encode_id(mid) for mid, _ in fresh),
            extra={"stream": {"key": config.stream, "group": config.group,
                              "consumer": config.consumer, "first_id": first,
                              "last_id": last}},
        )
        result = land(batch, config.table, contract, settings=settings, landing=landing)
        lag = time.time() - int(first.split("-")[0]) / 1000
        stats.max_lag_seconds = max(stats.max_lag_seconds, lag)
        stats.batches += 1
        stats.rows += result.ingested
        stats.accepted += result.accepted
        stats.quarantined += result.quarantined
        if result.version is not None:
            stats.versions.append(result.version)
    client.xack(config.stream, config.group, *[mid for mid, _ in messages])
    return result


def publish(client: redis.Redis, stream: str, records: list[dict[str, Any]]) -> list[str]:
    """Add records to a stream (one JSON field per message); return their ids."""
    pipe = client.pipeline(transaction=False)
    for record in records:
        pipe.xadd(stream, {"json": json.dumps(record, default=str)})
    return [i.decode() if isinstance(i, bytes) else i for i in pipe.execute()]


def _ensure_group(client: redis.Redis, config: StreamConfig) -> None:
    try:
        client.xgroup_create(config.stream, config.group, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _read(client: redis.Redis, config: StreamConfig, pending: bool,
          stop: threading.Event) -> list[tuple[str, dict[str, Any]]]:
    """Up to ``max_rows`` messages, waiting at most ``max_seconds`` to fill the batch."""
    out: list[tuple[str, dict[str, Any]]] = []
    deadline = time.monotonic() + config.max_seconds
    while len(out) < config.max_rows and not stop.is_set():
        wait_ms = max(1, int((deadline - time.monotonic()) * 1000))
        reply = client.xreadgroup(
            config.group, config.consumer, {config.stream: "0" if pending else ">"},
            count=config.max_rows - len(out), block=None if pending else wait_ms)
        entries = reply[0][1] if reply else []
        out += [(_text(mid), _record(fields)) for mid, fields in entries]
        if pending or not entries or time.monotonic() >= deadline:
            break
    return out


def _record(fields: dict[Any, Any]) -> dict[str, Any]:
    text = fields.get("json") if len(fields) == 1 else None
    if text is None:
        return {_text(k): _text(v) for k, v in fields.items()}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    # A message that is not a JSON object keeps its text, so the door can quarantine it.
    return value if isinstance(value, dict) else {"__invalid_json__": text}


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
