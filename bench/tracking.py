"""Benchmark: metric logging throughput of lockgate vs MLflow, measured in one run.

    .venv/bin/python bench/tracking.py [--points 100000] [--mlflow-calls 300]

lockgate: ``run.log_metric`` one by one, including the final flush, into SQLite and
PostgreSQL. MLflow (bench extra only): ``log_metric`` per call with a SQLite backend
(timed on fewer calls, it is ~10 ms each) and ``log_batch``. Target: >= 100,000
points/s into SQLite, i.e. >= 500x MLflow per call and >= 15x MLflow's log_batch.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

import lockgate as lg
from lockgate.config import Settings

PG_URL = os.environ.get("LOCKGATE_BENCH_PG_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def lockgate_points_per_second(settings: Settings, points: int) -> float:
    """Log ``points`` metric values one by one and flush; return points/s."""
    with lg.start_run("bench", experiment="bench", settings=settings,
                      sample_hardware=False, capture_code=False,
                      capture_console=False) as run:
        started = time.perf_counter()
        for step in range(points):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
        run.flush()
        elapsed = time.perf_counter() - started
    return points / elapsed


def mlflow_rates(workdir: Path, calls: int, batch_points: int) -> tuple[float, float] | None:
    """MLflow per-call and log_batch points/s with a SQLite backend, or None if absent."""
    try:
        import mlflow
        from mlflow.entities import Metric
        from mlflow.tracking import MlflowClient
    except ImportError:
        return None
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    experiment = client.create_experiment(f"bench-{uuid.uuid4().hex[:6]}",
                                          artifact_location=str(workdir / "mlruns"))
    run = client.create_run(experiment)
    run_id = run.info.run_id
    client.log_metric(run_id, "warmup", 0.0)
    started = time.perf_counter()
    for step in range(calls):
        client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step)
    per_call = calls / (time.perf_counter() - started)
    now = int(time.time() * 1000)
    metrics = [Metric("batch_loss", 1.0 / (s + 1), now, s) for s in range(batch_points)]
    started = time.perf_counter()
    for offset in range(0, batch_points, 1000):  # MLflow caps a batch at 1000 metrics
        client.log_batch(run_id, metrics=metrics[offset:offset + 1000])
    batch = batch_points / (time.perf_counter() - started)
    client.set_terminated(run_id)
    return per_call, batch


def _pg_schema_url() -> tuple[str, str] | None:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    try:
        engine = sa.create_engine(PG_URL)
        with engine.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        engine.dispose()
    except Exception as exc:  # report, do not fail the whole benchmark
        print(f"PostgreSQL not available ({exc}); skipping it.")
        return None
    return f"{PG_URL}?options=-csearch_path%3D{schema}", schema


def _drop_schema(schema: str) -> None:
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--mlflow-calls", type=int, default=300)
    parser.add_argument("--mlflow-batch-points", type=int, default=20_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="lockgate-bench-"))
    sqlite = Settings(home=workdir / "lg")
    lg.start_run("warmup", settings=sqlite, capture_code=False).end()
    rates = {"lockgate sqlite": lockgate_points_per_second(sqlite, args.points)}
    pg = _pg_schema_url()
    if pg:
        url, schema = pg
        try:
            rates["lockgate postgresql"] = lockgate_points_per_second(
                Settings(home=workdir / "lgpg", db_url=url), args.points
            )
        finally:
            _drop_schema(schema)
    mlflow = mlflow_rates(workdir, args.mlflow_calls, args.mlflow_batch_points)
    print(f"\n{args.points:,} points logged one by one (final flush included)")
    for name, rate in rates.items():
        print(f"  {name:<24} {rate:>12,.0f} points/s")
    target = rates["lockgate sqlite"] >= 100_000
    print(f"  target >= 100,000 points/s into SQLite: {'met' if target else 'NOT met'}")
    if mlflow is None:
        print("MLflow not installed: `pip install -e '.[bench]'` to compare.")
        return
    per_call, batch = mlflow
    print(f"  {'mlflow log_metric':<24} {per_call:>12,.0f} points/s ({args.mlflow_calls} calls)")
    print(f"  {'mlflow log_batch':<24} {batch:>12,.0f} points/s")
    ours = rates["lockgate sqlite"]
    print(f"ratio vs mlflow log_metric: {ours / per_call:,.0f}x (target >= 500x)")
    print(f"ratio vs mlflow log_batch:  {ours / batch:,.1f}x (target >= 15x)")


if __name__ == "__main__":
    main()
