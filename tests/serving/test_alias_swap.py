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


async def _client(url: str, stop_at: float, seen: list[tuple[float, int]],
                  failures: list[str]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        while time.monotonic() < stop_at:
            try:
                response = await client.post("/predict", json=GOOD)
            except httpx.HTTPError as exc:
                failures.append(repr(exc))
                continue
            if response.status_code != 200:
                failures.append(f"{response.status_code}: {response.text[:200]}")
                continue
            seen.append((time.monotonic(), response.json()["model_version"]))


async def _load_with_promotion(url: str, registry: Registry) -> tuple[list, list, float]:
    seen: list[tuple[float, int]] = []
    failures: list[str] = []
    stop_at = time.monotonic() + 6.0
    clients = [asyncio.create_task(_client(url, stop_at, seen, failures))
               for _ in range(CLIENTS)]
    await asyncio.sleep(2.0)
    promoted_at = time.monotonic()
    await asyncio.to_thread(registry.transition, "churn", 2, "production", action="promote",
                            reason="swap under load")
    await asyncio.gather(*clients)
    return seen, failures, promoted_at


def test_alias_swap_under_load_drops_nothing(world: tuple[Settings, Registry]) -> None:
    settings, registry = world
    config = ServeConfig("churn@production", port=0, poll_seconds=0.2, log_flush_seconds=0.2)
    with BackgroundServer(config, settings) as server:
        seen, failures, promoted_at = asyncio.run(_load_with_promotion(server.url, registry))
        metrics = httpx.get(f"{server.url}/metrics").text
    assert failures == []
    versions = [v for _, v in seen]
    assert versions.count(1) > 20 and versions.count(2) > 20
    assert {v for t, v in seen if t < promoted_at} == {1}
    last_v1 = max(t for t, v in seen if v == 1)
    assert [v for t, v in seen if t > last_v1] == [2] * sum(1 for t, _ in seen if t > last_v1)
    assert 'lockgate_model_swaps_total{model="churn"} 1' in metrics
    values = {line.split("{")[0]: float(line.split()[-1]) for line in metrics.splitlines()
              if line.startswith(("lockgate_batch_rows_sum", "lockgate_batch_rows_count"))}
    # concurrent single-row requests were predicted together (adaptive micro-batching)
    assert values["lockgate_batch_rows_sum"] > values["lockgate_batch_rows_count"]
    registry.transition("churn", 1, "production", action="rollback", reason="restore fixture")
