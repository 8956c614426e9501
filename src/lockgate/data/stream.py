"""Redis Streams ingestion: a consumer group member that lands records in micro-batches
(row-count and time bounds), at-least-once from Redis and exactly-once into the table.

Exactly-once landing: each micro-batch's Delta commit carries an application transaction
``(redis:<stream>:<group>:<consumer>, position of its last message)``. After a crash the
consumer re-reads its pending messages, skips those at or below the committed position,
lands the rest, and only then acknowledges. A kill at any instant loses nothing (unacked
messages are redelivered) and duplicates nothing (landed positions are skipped).

Nothing blocks the stream:

- a message that is not a JSON object, or has fields the contract refuses, is quarantined
  (raw payload, stream id, reason) in the same commit as its neighbours, and acked;
- the entries of a consumer that died are reclaimed after ``min_idle_seconds``
  (``XPENDING`` + ``XCLAIM``) and landed under *its* transaction id, so its committed
  position still tells what it had landed;
- a message whose landing keeps failing is moved to the dead-letter stream
  ``<stream>:dead`` after ``max_deliveries`` deliveries, with the error, and acked;
- a producer's retry (the same event sent twice, two stream ids) is a copy: with
  ``event_id`` (or the contract's primary key) it lands once and is not quarantined.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.dataset  # noqa: F401  (loaded now, not inside the first micro-batch's lag)
import redis

from lockgate.config import Settings, load_settings
from lockgate.data import table as delta
from lockgate.data.contract import Contract
from lockgate.data.errors import SchemaChangeError, SourceError, SourceUnreachableError
from lockgate.data.ingestion import IngestResult, Landing, land, resolve_contract
from lockgate.data.normalize import map_columns
from lockgate.data.source import Batch, frame_hash, records_frame
from lockgate.errors import ConfigError

_SEQ_BITS = 20
#: The key under which a message that is not a JSON object keeps its text.
INVALID = "__invalid_json__"


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
        event_id: the contract column naming an event; a repeat lands once (default:
            the contract's primary key, by the row's values).
        min_idle_seconds: another consumer's pending entries idle this long are
            reclaimed (that consumer is taken for dead).
        max_deliveries: a message delivered this many times without landing goes to
            the dead-letter stream.
        dead_letter: the dead-letter stream (default ``<stream>:dead``).
        owner: set on reclaimed entries: the consumer whose transaction id they land
            under.
    """

    redis_url: str
    stream: str
    table: str
    group: str = "lockgate"
    consumer: str = "consumer-1"
    max_rows: int = 5_000
    max_seconds: float = 1.0
    event_id: str | None = None
    min_idle_seconds: float = 60.0
    max_deliveries: int = 5
    dead_letter: str | None = None
    owner: str | None = None

    def __post_init__(self) -> None:
        # A zero bound would make the consumer spin without ever reading a message.
        problems = [f"{name} must be > 0, got {getattr(self, name)}"
                    for name in ("max_rows", "max_seconds", "min_idle_seconds",
                                 "max_deliveries") if not getattr(self, name) > 0]
        problems += [f"{name} must not be empty" for name in ("stream", "table", "group",
                                                              "consumer")
                     if not getattr(self, name)]
        if problems:
            raise ConfigError("Invalid StreamConfig: " + "; ".join(problems) + ".")

    @property
    def app_id(self) -> str:
        """The Delta application id under which this consumer's position is committed."""
        return self.app_id_of(self.owner or self.consumer)

    def with_owner(self, owner: str) -> StreamConfig:
        """This configuration landing under another consumer's transaction id (for the
        entries reclaimed from it); reading and acking stay with this consumer."""
        return replace(self, owner=owner)

    def app_id_of(self, consumer: str) -> str:
        """The application id of any consumer of this stream and group."""
        return f"redis:{self.stream}:{self.group}:{consumer}"

    @property
    def dead_letter_stream(self) -> str:
        """Where poison messages go."""
        return self.dead_letter or f"{self.stream}:dead"


@dataclass(slots=True)
class StreamStats:
    """What a consumer did so far."""

    batches: int = 0
    rows: int = 0
    accepted: int = 0
    quarantined: int = 0
    skipped: int = 0
    deduplicated: int = 0
    reclaimed: int = 0
    dead_lettered: int = 0
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
    next_claim = 0.0
    while not stop.is_set():
        if time.monotonic() >= next_claim:
            for owner, claimed in reclaim(client, config, stats):
                _land_safely(client, config.with_owner(owner), resolved, claimed, settings,
                             stats, on_batch, redelivered=True)
            next_claim = time.monotonic() + min(config.min_idle_seconds, 5.0)
        messages = _read(client, config, pending, stop)
        if pending and not messages:
            pending = False
            continue
        if not messages:
            if idle_seconds is not None and time.monotonic() - idle_since >= idle_seconds:
                break
            continue
        idle_since = time.monotonic()
        _land_safely(client, config, resolved, messages, settings, stats, on_batch,
                     redelivered=pending)
        if max_batches is not None and stats.batches >= max_batches:
            break
    return stats


def land_messages(client: redis.Redis, config: StreamConfig, contract: Contract,
                  messages: list[tuple[str, dict[str, Any]]], settings: Settings,
                  stats: StreamStats) -> IngestResult | None:
    """Land one micro-batch exactly once, then acknowledge it.

    Messages the door cannot read (not a JSON object, fields the contract refuses) are
    quarantined with the batch; a schema change that would refuse the whole batch
    (retyped under ``fail``) quarantines it instead, so the stream moves on.
    """
    path = delta.table_path(settings, config.table)
    committed = delta.position(path, config.app_id)
    fresh = [(mid, rec) for mid, rec in messages
             if committed is None or encode_id(mid) > committed]
    stats.skipped += len(messages) - len(fresh)
    result = None
    if fresh:
        try:
            result = _land_fresh(config, contract, fresh, settings, rejected_all=None)
        except SchemaChangeError as exc:
            result = _land_fresh(config, contract, fresh, settings,
                                 rejected_all=",".join(exc.changes))
        lag = time.time() - int(fresh[0][0].split("-")[0]) / 1000
        stats.max_lag_seconds = max(stats.max_lag_seconds, lag)
        stats.batches += 1
        stats.rows += result.ingested
        stats.accepted += result.accepted
        stats.quarantined += result.quarantined
        stats.deduplicated += result.deduplicated
        if result.version is not None:
            stats.versions.append(result.version)
    client.xack(config.stream, config.group, *[mid for mid, _ in messages])
    return result


def _land_fresh(config: StreamConfig, contract: Contract,
                fresh: list[tuple[str, dict[str, Any]]], settings: Settings, *,
                rejected_all: str | None) -> IngestResult:
    good: list[tuple[str, dict[str, Any]]] = []
    refused: list[tuple[str, str, str]] = []  # (id, reason, raw)
    for mid, record in fresh:
        reason = rejected_all or _refusal(record, contract)
        if reason is None:
            good.append((mid, record))
        else:
            refused.append((mid, reason, _raw(record)))
    frame = records_frame([rec for _, rec in good]) if good else pl.DataFrame(
        {c: pl.Series(c, [], pl.String) for c in contract.column_names})
    first, last = fresh[0][0], fresh[-1][0]
    batch = Batch(frame, f"redis:{config.stream}", frame_hash(frame), records=True)
    ids = [mid for mid, _ in good] + [mid for mid, _, _ in refused]
    landing = Landing(
        batch_id=f"s{encode_id(first):x}-{encode_id(last):x}",
        transaction=(config.app_id, encode_id(last)), idempotent=False,
        row_ids=tuple(ids), positions=tuple(encode_id(mid) for mid in ids),
        extra={"stream": {"key": config.stream, "group": config.group,
                          "consumer": config.consumer, "first_id": first,
                          "last_id": last}},
        dedupe_key=(config.event_id,) if config.event_id else (),
        rejected=tuple((reason, raw) for _, reason, raw in refused),
    )
    return land(batch, config.table, contract, settings=settings, landing=landing)


def _refusal(record: dict[str, Any], contract: Contract) -> str | None:
    """Why one message cannot go through the door on its own, or None."""
    if INVALID in record:
        return "message:not_a_json_object"
    policy = contract.schema_policy.new
    if policy in ("ignore", "evolve"):
        return None
    unknown = map_columns([str(k) for k in record], contract).new
    return f"schema:new:{unknown[0]}" if unknown else None


def _raw(record: dict[str, Any]) -> str:
    if INVALID in record:
        return json.dumps({"payload": record[INVALID]})
    return json.dumps(record, default=str, sort_keys=True)


def _land_safely(client: redis.Redis, config: StreamConfig, contract: Contract,
                 messages: list[tuple[str, dict[str, Any]]], settings: Settings,
                 stats: StreamStats, on_batch: Callable[[IngestResult], None] | None, *,
                 redelivered: bool = False) -> None:
    """Land a micro-batch so that no message can hold the stream back.

    Redelivered messages (pending after a crash, reclaimed) delivered ``max_deliveries``
    times already go to the dead-letter stream first. If landing the batch fails, its
    messages land one by one; one that fails alone is redelivered to this consumer
    (``XCLAIM``, which counts a delivery) and retried until ``max_deliveries``, then
    dead-lettered; it is never left pending behind messages that landed after it (the
    committed position would then hide it).
    """
    if redelivered:
        messages = _without_dead(client, config, messages, stats, "delivered too often")
    if not messages:
        return
    try:
        result = land_messages(client, config, contract, messages, settings, stats)
    except (SourceUnreachableError, redis.ConnectionError):
        raise
    except Exception as exc:
        if len(messages) > 1:
            for message in messages:
                _land_safely(client, config, contract, [message], settings, stats, on_batch)
            return
        _retry_one(client, config, contract, messages[0], settings, stats, on_batch, exc)
        return
    if result is not None and on_batch:
        on_batch(result)


def _retry_one(client: redis.Redis, config: StreamConfig, contract: Contract,
               message: tuple[str, dict[str, Any]], settings: Settings, stats: StreamStats,
               on_batch: Callable[[IngestResult], None] | None, error: Exception) -> None:
    mid = message[0]
    while _deliveries(client, config, mid) < config.max_deliveries:
        client.xclaim(config.stream, config.group, config.consumer, 0, [mid])
        try:
            result = land_messages(client, config, contract, [message], settings, stats)
        except (SourceUnreachableError, redis.ConnectionError):
            raise
        except Exception as exc:
            error = exc
            continue
        if result is not None and on_batch:
            on_batch(result)
        return
    _dead_letter(client, config, message, stats, f"{type(error).__name__}: {error}")


def _deliveries(client: redis.Redis, config: StreamConfig, mid: str) -> int:
    entry = client.xpending_range(config.stream, config.group, min=mid, max=mid, count=1)
    return int(entry[0]["times_delivered"]) if entry else config.max_deliveries


def _without_dead(client: redis.Redis, config: StreamConfig,
                  messages: list[tuple[str, dict[str, Any]]], stats: StreamStats,
                  why: str) -> list[tuple[str, dict[str, Any]]]:
    counts = {_text(e["message_id"]): int(e["times_delivered"]) for e in client.xpending_range(
        config.stream, config.group, min=messages[0][0], max=messages[-1][0],
        count=len(messages) * 2)}
    keep = []
    for message in messages:
        if counts.get(message[0], 0) > config.max_deliveries:
            _dead_letter(client, config, message, stats, why)
        else:
            keep.append(message)
    return keep


def _dead_letter(client: redis.Redis, config: StreamConfig,
                 message: tuple[str, dict[str, Any]], stats: StreamStats, error: str) -> None:
    """Move a poison message to the dead-letter stream (payload, id, error) and ack it."""
    mid, record = message
    client.xadd(config.dead_letter_stream, {
        "stream": config.stream, "id": mid, "payload": _raw(record), "table": config.table,
        "deliveries": str(_deliveries(client, config, mid)), "error": error[:2000]})
    client.xack(config.stream, config.group, mid)
    stats.dead_lettered += 1


def reclaim(client: redis.Redis, config: StreamConfig, stats: StreamStats
            ) -> list[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    """Claim the entries other consumers (taken for dead) left pending longer than
    ``min_idle_seconds``.

    Returns:
        Per previous owner, its claimed messages in stream order. They must be landed
        under the owner's transaction id (:meth:`StreamConfig.with_owner`): its
        committed position says which of them it had landed before dying.
    """
    idle_ms = int(config.min_idle_seconds * 1000)
    entries = client.xpending_range(config.stream, config.group, min="-", max="+",
                                    count=config.max_rows, idle=idle_ms)
    by_owner: dict[str, list[str]] = {}
    for entry in entries:
        owner = _text(entry["consumer"])
        if owner != config.consumer:  # our own pending entries are drained at start
            by_owner.setdefault(owner, []).append(_text(entry["message_id"]))
    out = []
    for owner, ids in by_owner.items():
        # redis-py types every reply as "sync or async"; this client is the sync one
        claimed: Any = client.xclaim(config.stream, config.group, config.consumer, idle_ms,
                                     list[Any](ids))
        messages = [(_text(mid), _record(fields)) for mid, fields in claimed if fields]
        gone = [i for i in ids if i not in {m for m, _ in messages}]
        if gone:  # trimmed from the stream meanwhile: nothing left to land
            client.xack(config.stream, config.group, *gone)
        if messages:
            stats.reclaimed += len(messages)
            out.append((owner, messages))
    return out


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
        reply: Any = client.xreadgroup(
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
    return value if isinstance(value, dict) else {INVALID: text}


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
