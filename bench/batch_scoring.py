"""Benchmark: `lockgate.serving.predict_batch` vs a bare `model.predict` over one file.

Run: .venv/bin/python bench/batch_scoring.py [--rows 200000] [--repeats 3] [--quick]

One fitted 12-feature HistGradientBoostingClassifier pipeline is registered in a
temporary lockgate home; one CSV of ``--rows`` rows (1% of them breaking the contract)
is scored by

- **lockgate**: ``predict_batch(ref, csv, out=scores.parquet)``: the contract's door on
  every chunk (mapping, parsing, validation, quarantine with reasons), the model call,
  the output file and every prediction in the prediction log (with batch id);
- **bare**: ``pl.read_csv`` + ``pipeline.predict_proba`` + ``write_parquet`` (no
  validation, no quarantine, no log: what a hand-written script does).

Each measurement runs in its own fresh process (so peak RSS is the job's own), lockgate
and bare interleaved (A B A B ...), ``--repeats`` times. Reported: median [min-max] wall
and CPU seconds, rows/s, peak RSS, the load average at start and end. Goal (issue #17):
batch scoring costs at most 2x the bare call's wall time while validating every row,
and its peak memory stays bounded by the chunk size, not the file size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # 2 shared cores: no thread oversubscription
N_FEATURES = 12


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunk-rows", type=int, default=50_000)
    parser.add_argument("--quick", action="store_true", help="50,000 rows, 3 repeats.")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: one measured job
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_one(json.loads(args.one))))
        return
    rows = 50_000 if args.quick else args.rows
    work = Path(tempfile.mkdtemp(prefix="lockgate-bench-batch-"))
    try:
        _run(work, rows, max(3, args.repeats), args.chunk_rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(work: Path, rows: int, repeats: int, chunk_rows: int) -> None:
    source = _setup(work, rows)
    load_start = os.getloadavg()
    results: dict[str, list[dict[str, Any]]] = {"lockgate": [], "bare": []}
    for repeat in range(repeats):
        for kind in ("lockgate", "bare"):  # interleaved: A B A B ...
            spec = {"kind": kind, "work": str(work), "source": str(source),
                    "out": str(work / f"{kind}-{repeat}.parquet"), "chunk_rows": chunk_rows}
            done = subprocess.run([sys.executable, __file__, "--one", json.dumps(spec)],
                                  capture_output=True, text=True, check=False,
                                  env={**os.environ, "LOCKGATE_HOME": str(work / ".lockgate")})
            if done.returncode != 0:
                raise SystemExit(f"{kind} failed:\n{done.stderr[-3000:]}")
            results[kind].append(json.loads(done.stdout.strip().splitlines()[-1]))
    load_end = os.getloadavg()
    _report(rows, repeats, chunk_rows, results, load_start, load_end)


def _setup(work: Path, rows: int) -> Path:
    """Fit, register and promote the model; write the CSV to score."""
    import numpy as np
    import polars as pl
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from lockgate.config import Settings
    from lockgate.registry import Registry
    from lockgate.store import Store
    from lockgate.tracking import start_run

    settings = Settings(home=work / ".lockgate")
    rng = np.random.default_rng(0)
    names = [f"f{i}" for i in range(N_FEATURES)]

    def frame(n: int) -> pl.DataFrame:
        x = rng.normal(size=(n, N_FEATURES))
        data = {name: x[:, i] for i, name in enumerate(names)}
        return pl.DataFrame({"id": np.arange(n), **data,
                             "y": (x[:, 0] + x[:, 1] > 0).astype(int)})

    train = frame(5000)
    pipeline = make_pipeline(StandardScaler(), HistGradientBoostingClassifier(max_iter=50))
    pipeline.fit(train.select(names).to_pandas(), train["y"].to_numpy())
    contract = {"table": "bench", "version": "1", "primary_key": ["id"], "target": "y",
                "columns": [{"name": "id", "type": "int", "nullable": False},
                            *({"name": n, "type": "float", "min": -50.0, "max": 50.0}
                              for n in names),
                            {"name": "y", "type": "int", "allowed": None}]}
    evaluation = {"problem_type": "binary", "primary_metric": "roc_auc",
                  "greater_is_better": True, "metrics": {"roc_auc": 0.9},
                  "dataset": {"table": "bench", "version": 0}}
    with start_run("bench-train", settings=settings, capture_console=False,
                   sample_hardware=False, capture_code=False) as run:
        run.log_value(pipeline, "model")
        run.log_dict(evaluation, "evaluation")
    registry = Registry(Store.open(settings), settings)
    holdout = frame(500)
    registry.register("bench", run.id, contract=contract,
                      reference_profile={"columns": {}, "rows": 0}, holdout=holdout)
    registry.transition("bench", 1, "production", action="promote", reason="bench")
    scored = frame(rows).drop("y")
    bad = pl.int_range(rows, eager=True) % 100 == 7  # 1% break the contract's range
    scored = scored.with_columns(pl.when(bad).then(99.0).otherwise(pl.col("f3")).alias("f3"))
    source = work / "to_score.csv"
    scored.write_csv(source)
    return source


def _one(spec: dict[str, Any]) -> dict[str, Any]:
    """One measured job in this (fresh) process; imports are not the job's cost."""
    import polars as pl
    import skops.io  # noqa: F401

    from lockgate.config import load_settings
    from lockgate.registry import Registry
    from lockgate.serving import predict_batch
    from lockgate.store import Store

    started, cpu = time.perf_counter(), time.process_time()
    if spec["kind"] == "lockgate":
        result = predict_batch("bench@production", spec["source"], out=spec["out"],
                               chunk_rows=spec["chunk_rows"])
        scored, quarantined = result.rows_scored, result.rows_quarantined
    else:  # the package is loaded (and verified) through the registry in both arms
        settings = load_settings()
        registry = Registry(Store.open(settings), settings)
        pipeline = registry.load(registry.resolve("bench@production")).pipeline
        frame = pl.read_csv(spec["source"])
        names = [f"f{i}" for i in range(N_FEATURES)]
        proba = pipeline.predict_proba(frame.select(names).to_pandas())[:, 1]
        frame.select("id").with_columns(pl.Series("probability", proba)).write_parquet(
            spec["out"])
        scored, quarantined = frame.height, 0
    return {"wall": time.perf_counter() - started, "cpu": time.process_time() - cpu,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "scored": scored, "quarantined": quarantined}


def _report(rows: int, repeats: int, chunk_rows: int, results: dict[str, list[dict[str, Any]]],
            load_start: tuple[float, ...], load_end: tuple[float, ...]) -> None:
    def spread(values: list[float], fmt: str) -> str:
        return (f"{format(statistics.median(values), fmt)} "
                f"[{format(min(values), fmt)}-{format(max(values), fmt)}]")

    print(f"batch scoring of {rows:,} CSV rows ({N_FEATURES} features, 1% bad), "
          f"chunks of {chunk_rows:,}, {repeats} interleaved repeats")
    print(f"load average at start {load_start[0]:.2f}, at end {load_end[0]:.2f}")
    print(f"{'':10} {'wall s':>22} {'cpu s':>22} {'rows/s':>26} {'peak RSS MB':>22}")
    for kind, runs in results.items():
        walls = [r["wall"] for r in runs]
        print(f"{kind:10} {spread(walls, '.2f'):>22} "
              f"{spread([r['cpu'] for r in runs], '.2f'):>22} "
              f"{spread([rows / w for w in walls], ',.0f'):>26} "
              f"{spread([r['peak_rss_mb'] for r in runs], '.0f'):>22}")
    lg, bare = results["lockgate"][0], results["bare"][0]
    ratio = (statistics.median(r["wall"] for r in results["lockgate"])
             / statistics.median(r["wall"] for r in results["bare"]))
    print(f"lockgate scored {lg['scored']:,} and quarantined {lg['quarantined']:,} "
          f"(bare scored all {bare['scored']:,}, bad rows included)")
    print(f"wall ratio lockgate/bare: {ratio:.2f} (goal <= 2.0, validating every row and "
          "logging every prediction)")
    _harness_rows(rows, results, ratio)


def _harness_rows(rows: int, results: dict[str, list[dict[str, Any]]], ratio: float) -> None:
    """The same figures as rows of bench/run_all.py's table (bench/harness.py)."""
    sys.path.insert(0, str(Path(__file__).parent))
    import harness

    report = harness.Report("batch_scoring")
    samples = {kind: [harness.Sample(r["wall"], r["cpu"], units=rows) for r in runs]
               for kind, runs in results.items()}
    report.compare(f"predict_batch of {rows:,} CSV rows (validated, logged) vs bare "
                   "read_csv + predict_proba + write_parquet", lockgate=samples["lockgate"],
                   baseline=samples["bare"], unit="rows",
                   goal=harness.Goal.at_most(2.0, "≤ 2× the bare call's wall time"))
    report.compare(f"predict_batch of {rows:,} rows: peak RSS vs bare",
                   lockgate=harness.values([r["peak_rss_mb"] for r in results["lockgate"]]),
                   baseline=harness.values([r["peak_rss_mb"] for r in results["bare"]]),
                   unit="MB", note="bounded by the chunk, not the file (#17): compare sizes")
    report.emit()


if __name__ == "__main__":
    main()
