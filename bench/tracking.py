"""Benchmark: metric logging throughput of lockgate vs MLflow, measured in one run.

    .venv/bin/python bench/tracking.py [--points 100000] [--mlflow-calls 300]
                                       [--mlflow-venv /tmp/18-mlflow-venv]

lockgate: ``run.log_metric`` one by one inside ``lg.start_run`` with every capture on,
as users run it (hardware sampling, code version, console capture), including the run's
start and final flush, into SQLite and PostgreSQL. MLflow (its own venv, see
``--mlflow-venv``; or this venv's if installed): ``log_metric`` per call with a SQLite
backend (timed on fewer calls, it is ~10 ms each) and ``log_batch``, in a child process.
The cases run interleaved (A B C A B C ...), ``--repeats`` times; each figure is the
median [min-max] of points/s, wall and CPU (CPU of this process and the MLflow child).
Goal: >= 100,000 points/s into SQLite, >= 500x MLflow per call, >= 15x its log_batch.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import harness  # bench/ is on sys.path when this file runs as a script
import lockgate as lg
from lockgate.config import Settings

PG_URL = os.environ.get("LOCKGATE_BENCH_PG_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def lockgate_points_per_second(settings: Settings, points: int) -> float:
    """Start a run with every capture on, log ``points`` values one by one, end it."""
    started = time.perf_counter()
    with lg.start_run("bench", experiment="bench", settings=settings) as run:
        for step in range(points):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
        run.flush()
    return points / (time.perf_counter() - started)


MLFLOW_CHILD = """
import json, sys, time, uuid
from pathlib import Path
import mlflow
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
workdir, calls, batch_points = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
uri = f"sqlite:///{workdir / 'mlflow.db'}"
client = MlflowClient(uri)
experiment = client.create_experiment(f"bench-{uuid.uuid4().hex[:6]}",
                                      artifact_location=str(workdir / "mlruns"))
run_id = client.create_run(experiment).info.run_id
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
print(json.dumps([per_call, batch]))
"""


def mlflow_child(python: Path, workdir: Path, calls: int, batch_points: int
                 ) -> tuple[float, float]:
    """MLflow's per-call and log_batch points/s, measured in its own venv's process."""
    import subprocess

    done = subprocess.run([str(python), "-c", MLFLOW_CHILD, str(workdir), str(calls),
                           str(batch_points)], capture_output=True, text=True, check=True)
    per_call, batch = json.loads(done.stdout.strip().splitlines()[-1])
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
    parser.add_argument("--repeats", type=int, default=harness.REPEATS)
    parser.add_argument("--mlflow-venv", default=os.environ.get(
        "LOCKGATE_BENCH_MLFLOW_VENV", "/tmp/18-mlflow-venv"))
    args = parser.parse_args()
    report = harness.Report("tracking")
    workdir = Path(tempfile.mkdtemp(prefix="lockgate-bench-"))
    sqlite = Settings(home=workdir / "lg")
    cases: dict[str, Any] = {"lockgate sqlite": lambda: lockgate_points_per_second(
        sqlite, args.points)}
    pg = _pg_schema_url()
    if pg:
        pg_settings = Settings(home=workdir / "lgpg", db_url=pg[0])
        cases["lockgate postgresql"] = lambda: lockgate_points_per_second(
            pg_settings, args.points)
    python = next((p for p in (Path(args.mlflow_venv) / "bin" / "python",)
                   if p.exists()), None)
    if python is None and importlib.util.find_spec("mlflow") is not None:
        python = Path(sys.executable)
    if python is not None:
        runs = iter(range(1000))
        cases["mlflow (child process)"] = lambda: mlflow_child(
            python, _fresh(workdir / f"mlflow-{next(runs)}"), args.mlflow_calls,
            args.mlflow_batch_points)
    try:
        # cold: each lockgate store's first run (its creation and migration included),
        # apart from the interleaved warm repeats
        cold = {name: harness.timed(work)[0] for name, work in cases.items()
                if name.startswith("lockgate")}
        series, results = harness.interleave(cases, repeats=args.repeats)
    finally:
        if pg:
            _drop_schema(pg[1])
    for name in ("lockgate sqlite", "lockgate postgresql"):
        if name in series:
            report.compare(f"{name}: {args.points:,} points one by one, every capture on "
                           "(cold: a new store, first run)",
                           harness.with_units([cold[name]], args.points), unit="points")
            report.compare(f"{name}: {args.points:,} points one by one, every capture on "
                           "(warm)",
                           lockgate=harness.with_units(series[name], args.points),
                           unit="points", goal=harness.Goal.at_least(
                               100_000, "≥ 100,000 points/s into SQLite")
                           if name.endswith("sqlite") else None)
    if "mlflow (child process)" not in results:
        for goal in ("≥ 500× MLflow log_metric per call", "≥ 15× MLflow log_batch"):
            report.skip(f"lockgate sqlite vs mlflow: {goal}", goal=goal,
                        fix="pass --mlflow-venv /tmp/18-mlflow-venv (a venv with "
                        "`pip install mlflow`)")
        report.emit()
        return
    peer = results["mlflow (child process)"]
    ours = harness.with_units(series["lockgate sqlite"], args.points)
    # The MLflow child times its two parts itself; each is a Sample of that part alone
    # (the child's CPU covers both parts, so only the wall-time rate is compared).
    nan = float("nan")
    loads = [s.load for s in series["mlflow (child process)"].samples]
    per_call = [harness.Sample(args.mlflow_calls / rate, nan, units=args.mlflow_calls,
                               load=load) for (rate, _), load in zip(peer, loads, strict=True)]
    batch = [harness.Sample(args.mlflow_batch_points / rate, nan,
                            units=args.mlflow_batch_points, load=load)
             for (_, rate), load in zip(peer, loads, strict=True)]
    report.compare("lockgate sqlite (every capture on) vs mlflow log_metric per call",
                   lockgate=ours, baseline=per_call, unit="points",
                   goal=harness.Goal.at_least(500, "≥ 500× MLflow log_metric per call"))
    report.compare("lockgate sqlite (every capture on) vs mlflow log_batch",
                   lockgate=ours, baseline=batch, unit="points",
                   goal=harness.Goal.at_least(15, "≥ 15× MLflow log_batch"))
    report.peer("mlflow child process, both parts (its whole wall and CPU)",
                series["mlflow (child process)"])
    report.emit()


def _fresh(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


if __name__ == "__main__":
    main()
