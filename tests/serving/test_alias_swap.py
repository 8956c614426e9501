"""Promoting a new production version while clients hammer the server: the alias is
followed, the new version takes over, and not one request fails."""

from __future__ import annotations

import asyncio
import time

import httpx

from lockgate.config import Settings
from lockgate.registry import Registry
from lockgate.serving import BackgroundServer, ServeConfig

CLIENTS = 12
GOOD = {"age": 40, "income": 52000.0, "tenure": 3.5}
#: Answers wanted from each version; the test waits for them however slow the machine
#: is (the deadline only catches a hang), so it asserts behaviour, not throughput.
WANTED = 20
HANG_SECONDS = 300.0


async def _client(url: str, stop: asyncio.Event, seen: list[tuple[float, int, int]],
                  failures: list[str], number: int) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        while not stop.is_set():
            try:
                response = await client.post("/predict", json=GOOD)
            except httpx.HTTPError as exc:
                failures.append(repr(exc))
                continue
            if response.status_code != 200:
                failures.append(f"{response.status_code}: {response.text[:200]}")
                continue
            seen.append((time.monotonic(), response.json()["model_version"], number))


async def _until(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + HANG_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"hung waiting for {what}"
        await asyncio.sleep(0.05)


async def _load_with_promotion(url: str, registry: Registry) -> tuple[list, list, float]:
    seen: list[tuple[float, int, int]] = []
    failures: list[str] = []
    stop = asyncio.Event()
    clients = [asyncio.create_task(_client(url, stop, seen, failures, i))
               for i in range(CLIENTS)]
    await _until(lambda: len(seen) >= WANTED, f"{WANTED} answers from v1")
    promoted_at = time.monotonic()
    await asyncio.to_thread(registry.transition, "churn", 2, "production", action="promote",
                            reason="swap under load")
    await _until(lambda: sum(v == 2 for _, v, _ in seen) >= WANTED,
                 f"{WANTED} answers from v2")
    stop.set()
    await asyncio.gather(*clients)
    return seen, failures, promoted_at


def test_alias_swap_under_load_drops_nothing(world: tuple[Settings, Registry]) -> None:
    settings, registry = world
    config = ServeConfig("churn@production", port=0, poll_seconds=0.2, log_flush_seconds=0.2)
    with BackgroundServer(config, settings) as server:
        seen, failures, promoted_at = asyncio.run(_load_with_promotion(server.url, registry))
        metrics = httpx.get(f"{server.url}/metrics").text
    assert failures == []  # every request answered
    assert {v for t, v, _ in seen if t < promoted_at} == {1}
    assert sum(v == 1 for _, v, _ in seen) >= WANTED
    last_v1 = max(t for t, v, _ in seen if v == 1)
    assert {v for t, v, _ in seen if t > last_v1} == {2}  # the switch is strictly monotone
    for number in range(CLIENTS):  # and so it is for every client: never back to v1
        mine = [v for _, v, n in seen if n == number]
        assert mine == sorted(mine), f"client {number} saw {mine}"
    assert 'lockgate_model_swaps_total{model="churn"} 1' in metrics
    values = {line.split("{")[0]: float(line.split()[-1]) for line in metrics.splitlines()
              if line.startswith(("lockgate_batch_rows_sum", "lockgate_batch_rows_count"))}
    # concurrent single-row requests were predicted together (adaptive micro-batching)
    assert values["lockgate_batch_rows_sum"] > values["lockgate_batch_rows_count"]
    registry.transition("churn", 1, "production", action="rollback", reason="restore fixture")
