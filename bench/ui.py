"""Benchmark: server time of the dashboard's runs page (full HTTP handling) right after
bulk logging.

    .venv/bin/python bench/ui.py [--runs 100000] [--points 100] [--repeats 3]

Runs (3 params, 1 tag each) are bulk-inserted into a fresh SQLite store, then their
metrics (``auc`` and ``loss``, ``points / 2`` steps each: 100 points per run by
default) go through ``Store.log_metric_tuples``, the path tracking flushes into, which
keeps ``latest_metrics`` current. With nothing run in between (no warm-up, no summary
build, no ANALYZE), the full HTTP handling of the runs page (query, count, last
metrics, params, HTML) is timed in-process with the ASGI test client: once cold, then
``--repeats`` times interleaved (harness):

- first page (newest first, 50 rows);
- page 100;
- a filtered sort: ``params.lr > 0.01 and metrics.auc >= 0.9`` sorted by ``metrics.auc``.

Goal (issue #18): each <= 200 ms server time (``bench/store.py`` checks it at 1M runs).
No peer is measured: MLflow's UI is a JavaScript app over its REST search, so the
figure is checked against the absolute goal, not against lockgate's own queries.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

import harness  # bench/ is on sys.path when this file runs as a script
from lockgate.config import Settings
from lockgate.store import Store
from lockgate.store import schema as t
from lockgate.ui import AccessPolicy, create_dashboard_app

GOAL_S = 0.200
FILTER = "params.lr > 0.01 and metrics.auc >= 0.9"


def populate(store: Store, runs: int, points: int, seed: int = 0) -> float:
    """Bulk-insert runs, params and tags; log metrics through the store; logging seconds."""
    rng = random.Random(seed)
    experiment = store.experiment_id("bench")
    now = time.time() - runs
    ids = []
    for start in range(0, runs, 5000):
        run_rows, param_rows, tag_rows = [], [], []
        for i in range(start, min(start + 5000, runs)):
            run_id = uuid.UUID(int=rng.getrandbits(128)).hex[:16]
            ids.append(run_id)
            run_rows.append({
                "id": run_id, "experiment_id": experiment, "name": f"run-{i}", "kind": "run",
                "status": "FINISHED", "start_time": now + i, "end_time": now + i + 30,
                "heartbeat_at": now + i + 30, "heartbeat_seconds": 5.0})
            param_rows += [{"run_id": run_id, "key": "lr",
                            "value": repr(10 ** rng.uniform(-4, -0.5))},
                           {"run_id": run_id, "key": "depth", "value": str(rng.randint(2, 12))},
                           {"run_id": run_id, "key": "optimizer",
                            "value": '"adam"' if i % 2 else '"sgd"'}]
            tag_rows.append({"run_id": run_id, "key": "team",
                             "value": rng.choice(["risk", "growth"])})
        with store.write() as conn:
            conn.execute(sa.insert(t.runs), run_rows)
            conn.execute(sa.insert(t.params), param_rows)
            conn.execute(sa.insert(t.tags), tag_rows)
    steps = max(1, points // 2)
    started = time.perf_counter()
    per_batch = max(1, 100_000 // points)
    for start in range(0, runs, per_batch):
        batch = []
        for run_id in ids[start:start + per_batch]:
            auc = rng.uniform(0.6, 0.99)
            for step in range(steps):
                batch.append((run_id, "auc", step, now, auc - 0.02 * (steps - 1 - step) / steps))
                batch.append((run_id, "loss", step, now, 1.0 / (step + 1)))
        store.log_metric_tuples(batch)
    return time.perf_counter() - started


def measure(report: harness.Report, runs: int, points: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp) / ".lockgate")
        store = Store.open(settings)
        logging = populate(store, runs, points)
        report.add(f"{runs:,} runs x {points} points: metric logging",
                   f"{runs * points / logging:,.0f} points/s", wall=f"{logging:.1f} s")
        client = TestClient(create_dashboard_app(settings, AccessPolicy()),
                            base_url="http://127.0.0.1:5000")

        def get(params: dict[str, str]):  # type: ignore[no-untyped-def]
            def call() -> object:
                response = client.get("/", params=params)
                assert response.status_code == 200, response.text[:500]
                return response
            return call

        cases = {"first page": get({}), "page 100": get({"page": "100"}),
                 f"`{FILTER}` sorted by auc": get({"q": FILTER, "sort": "metrics.auc",
                                                    "order": "desc"})}
        first = {name: harness.timed(call)[0] for name, call in cases.items()}
        series, _ = harness.interleave(cases, repeats=repeats)
        goal = harness.Goal.at_most(GOAL_S, "≤ 200 ms server time")
        for name in cases:
            report.compare(f"{runs:,} runs: {name} (cold, right after logging)",
                           lockgate=first[name], goal=goal)
            report.compare(f"{runs:,} runs: {name} (warm)", lockgate=series[name], goal=goal)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[100_000])
    parser.add_argument("--points", type=int, default=100, help="metric points per run")
    parser.add_argument("--repeats", type=int, default=harness.REPEATS)
    args = parser.parse_args()
    report = harness.Report("ui")
    for runs in args.runs:
        measure(report, runs, args.points, args.repeats)
    report.emit()


if __name__ == "__main__":
    main()
