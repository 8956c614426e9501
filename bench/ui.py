"""Benchmark: server time of the dashboard's runs page with many runs in the store.

    .venv/bin/python bench/ui.py [--runs 10000] [--runs 100000] [--repeat 5]

For each size, runs (3 params, 2 metrics x 5 steps, 1 tag each) are bulk-inserted
into a fresh SQLite store; then the full HTTP handling of the runs page (query, count,
last metrics, params, HTML) is timed in-process with the ASGI test client:

- first page (newest first, 50 rows);
- a deep page (page 100);
- a filtered sort: ``params.lr > 0.01 and metrics.auc >= 0.9`` sorted by ``metrics.auc``.

Baseline, measured in the same run: the foundation's ``Store.list_runs`` (the query
behind ``lockgate runs list``) for the same first page and for a sort by the same metric
(it cannot filter on params or metric values), plus ``last_metrics`` for the page.
Target: every dashboard figure <= 1 s. MLflow's UI is not measured: mlflow is not
installable here without the network beyond PyPI extras, and its UI is a JS app.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient
from rich.console import Console
from rich.progress import Progress

from lockgate.config import Settings
from lockgate.store import Store
from lockgate.store import schema as t
from lockgate.ui import AccessPolicy, create_app, metric_summary

TARGET_SECONDS = 1.0
FILTER = "params.lr > 0.01 and metrics.auc >= 0.9"
console = Console()


def populate(store: Store, runs: int, seed: int = 0) -> None:
    """Bulk-insert ``runs`` finished runs with params, metric curves and a tag."""
    rng = random.Random(seed)
    experiment = store.experiment_id("bench")
    now = time.time() - runs
    chunk = 2000
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"inserting {runs:,} runs", total=runs)
        for start in range(0, runs, chunk):
            run_rows, param_rows, metric_rows, tag_rows = [], [], [], []
            for i in range(start, min(start + chunk, runs)):
                run_id = uuid.uuid4().hex[:16]
                begin = now + i
                run_rows.append({
                    "id": run_id, "experiment_id": experiment, "name": f"run-{i}",
                    "kind": "run", "status": "FINISHED", "parent_id": None,
                    "start_time": begin, "end_time": begin + 30, "heartbeat_at": begin + 30,
                    "heartbeat_seconds": 5.0, "error": None, "host": "bench", "pid": 1})
                lr = 10 ** rng.uniform(-4, -0.5)
                param_rows += [{"run_id": run_id, "key": "lr", "value": repr(lr)},
                               {"run_id": run_id, "key": "depth",
                                "value": str(rng.randint(2, 12))},
                               {"run_id": run_id, "key": "optimizer",
                                "value": '"adam"' if i % 2 else '"sgd"'}]
                auc = rng.uniform(0.6, 0.99)
                for step in range(5):
                    metric_rows += [
                        {"run_id": run_id, "key": "auc", "step": step, "timestamp": begin,
                         "value": auc - 0.02 * (4 - step), "is_nan": False},
                        {"run_id": run_id, "key": "loss", "step": step, "timestamp": begin,
                         "value": 1.0 / (step + 1), "is_nan": False}]
                tag_rows.append({"run_id": run_id, "key": "team",
                                 "value": rng.choice(["risk", "growth"])})
            with store.write() as conn:
                conn.execute(sa.insert(t.runs), run_rows)
                conn.execute(sa.insert(t.params), param_rows)
                conn.execute(sa.insert(t.metrics), metric_rows)
                conn.execute(sa.insert(t.tags), tag_rows)
            progress.advance(task, len(run_rows))
    with store.write() as conn:
        conn.exec_driver_sql("ANALYZE")


def timed(func: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``func`` over ``repeat`` calls (after one warm-up)."""
    func()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def measure(runs: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp) / ".lockgate")
        store = Store.open(settings)
        started = time.perf_counter()
        populate(store, runs)
        console.print(f"[bold]{runs:,} runs[/] inserted in {time.perf_counter() - started:.1f}s")
        started = time.perf_counter()
        metric_summary.refresh(store, limit=None)
        console.print(f"  one-time build of the last-metric summary: "
                      f"{time.perf_counter() - started:.1f}s (all at once; pages fold "
                      f"{metric_summary.MAX_FOLD:,} ids per request)")
        client = TestClient(create_app(settings, AccessPolicy()),
                            base_url="http://127.0.0.1:5000")

        def get(params: dict[str, str]) -> Callable[[], object]:
            def call() -> object:
                response = client.get("/", params=params)
                assert response.status_code == 200, response.text[:500]
                return response
            return call

        first = timed(get({}), repeat)
        deep = timed(get({"page": "100"}), repeat)
        filtered = timed(get({"q": FILTER, "sort": "metrics.auc", "order": "desc"}), repeat)

        def baseline_first() -> None:
            page = store.list_runs(limit=50, top_level=True)
            store.last_metrics([r.id for r in page])

        def baseline_sorted() -> None:
            page = store.list_runs(limit=50, top_level=True, sort_metric="auc")
            store.last_metrics([r.id for r in page])

        base_first = timed(baseline_first, repeat)
        base_sorted = timed(baseline_sorted, repeat)
        found = re.search(r"· (\d+) runs</span>", client.get("/", params={"q": FILTER}).text)
        matched = found.group(1) if found else "?"
        rows = [
            ("runs page, first page", first, base_first),
            ("runs page, page 100", deep, base_first),
            (f"runs page, `{FILTER}` sorted by auc", filtered, base_sorted),
        ]
        for label, value, base in rows:
            verdict = "[green]meets[/]" if value <= TARGET_SECONDS else "[red]misses[/]"
            console.print(
                f"  {label}: [bold]{value * 1000:.1f} ms[/] (target <= "
                f"{TARGET_SECONDS * 1000:.0f} ms, {verdict}); baseline Store.list_runs "
                f"{base * 1000:.1f} ms; ratio {value / base:.2f}x")
        console.print(f"  (the filter matched {matched} of {runs:,} runs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, action="append",
                        help="store size; repeat for several (default 10000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed calls per figure")
    args = parser.parse_args()
    for runs in args.runs or [10_000]:
        measure(runs, args.repeat)


if __name__ == "__main__":
    main()
