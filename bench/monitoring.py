"""Benchmark: one monitoring window over 1,000,000 logged predictions x 20 features,
against the same drift computation done by Evidently, in one run.

    .venv/bin/python bench/monitoring.py [--rows 1000000] [--reference-rows 200000]
                                         [--repeats 3]
                                         [--evidently-python PATH | --skip-evidently]

Through ``bench/harness.py``: lockgate cold, lockgate warm and Evidently interleaved
(A B C A B C ...), at least three repeats, median [min-max] of wall and CPU, load at
start and end. Each cold repeat gets a fresh home (no stored bucket profiles).

lockgate's figure is a whole window, cold: read the prediction-log Delta table, profile
12 five-minute buckets (input features, predictions, latency histogram, contract checks)
and store them, merge, drift against the reference profile, prediction drift, the
feedback join, and record the window. The warm figure is the same window again, merged
from the stored bucket profiles. Evidently's figure is only its DataDriftPreset over the
same reference and current feature frames: the comparable figure includes reading
the two Parquet files (as lockgate's includes reading the log), and ``Report.run``
alone is shown beside it; both are wall and CPU of Evidently's own process.

Evidently 0.7 does not import with pandas 3 (lockgate's environment), so it runs in its
own interpreter: ``--evidently-python`` (default ``$LOCKGATE_EVIDENTLY_PYTHON``, else
``/tmp/evidently-venv/bin/python``, else this interpreter); make one with
``python -m venv /tmp/evidently-venv && /tmp/evidently-venv/bin/pip install
evidently "pandas<3" pyarrow``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import numpy as np
import polars as pl

TARGET_SECONDS = 5.0
NUMERIC = [f"n{i}" for i in range(15)]
CATEGORICAL = [f"c{i}" for i in range(5)]
SHIFTED = ["n0", "n1", "n2", "c0"]
BASE = 1_700_000_000.0 // 3600 * 3600

EVIDENTLY_SCRIPT = r"""
import json, sys, time
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset
ref_path, cur_path = sys.argv[1], sys.argv[2]
numeric, categorical = json.loads(sys.argv[3]), json.loads(sys.argv[4])
read_wall, read_cpu = time.perf_counter(), time.process_time()
ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
started, cpu = time.perf_counter(), time.process_time()
snapshot = Report([DataDriftPreset()]).run(
    current_data=Dataset.from_pandas(cur, data_definition=definition),
    reference_data=Dataset.from_pandas(ref, data_definition=definition))
seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
with_read = time.perf_counter() - read_wall, time.process_time() - read_cpu
drifted = []
for metric in snapshot.dict()["metrics"]:
    cfg = metric.get("config", {})
    if not str(cfg.get("type", "")).endswith("ValueDrift"):
        continue
    value, threshold, method = metric.get("value"), cfg.get("threshold"), str(cfg.get("method"))
    if value is None or threshold is None:
        continue
    if (value < threshold) if "p_value" in method else (value >= threshold):
        drifted.append(cfg["column"])
print(json.dumps({"seconds": seconds, "cpu": cpu_seconds, "with_read": with_read[0],
                  "with_read_cpu": with_read[1], "drifted": sorted(drifted)}))
"""


def frames(rows: int, reference_rows: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Reference and current features; current has ``SHIFTED`` moved."""
    def make(n: int, seed: int, shift: bool) -> pl.DataFrame:
        rng = np.random.default_rng(seed)
        data: dict[str, object] = {}
        for i, name in enumerate(NUMERIC):
            moved = 0.5 if shift and name in SHIFTED else 0.0
            data[name] = rng.normal(10 * i + moved * (i + 1), i + 1, n)
        for name in CATEGORICAL:
            weights = [0.2, 0.3, 0.5] if shift and name in SHIFTED else [0.5, 0.3, 0.2]
            data[name] = rng.choice(["a", "b", "c"], n, p=weights)
        return pl.DataFrame(data)

    return make(reference_rows, 1, False), make(rows, 2, True)


def contract() -> dict[str, object]:
    columns = [{"name": n, "type": "float", "min": -1000.0, "max": 1000.0} for n in NUMERIC]
    columns += [{"name": n, "type": "category", "allowed": ["a", "b", "c"]}
                for n in CATEGORICAL]
    columns.append({"name": "label", "type": "category"})
    return {"table": "bench", "version": "1", "target": "label", "columns": columns}


def fitted(reference: pl.DataFrame):  # type: ignore[no-untyped-def]
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    sample = reference.head(5_000)
    y = np.where(sample["n0"].to_numpy() + sample["n3"].to_numpy() > 40, "1", "0")
    pipeline = Pipeline([
        ("features", ColumnTransformer([("num", StandardScaler(), NUMERIC),
                                        ("cat", OneHotEncoder(), CATEGORICAL)])),
        ("model", LogisticRegression(max_iter=300))])
    return pipeline.fit(sample.to_pandas(), y)


def write_log(settings, name: str, current: pl.DataFrame, pipeline) -> None:  # type: ignore[no-untyped-def]
    from lockgate.serving import predictions_path

    n = current.height
    proba = pipeline.predict_proba(current.to_pandas())[:, 1]
    stamps = (BASE + np.linspace(0, 3600, n, endpoint=False)) * 1e6
    log = pl.DataFrame({
        "request_id": pl.int_range(n, eager=True).cast(pl.String) + f"-{uuid.uuid4().hex}",
        "timestamp": pl.Series(stamps.astype(np.int64)).cast(pl.Datetime("us", "UTC")),
        "model_name": [name] * n, "model_version": pl.Series([1] * n, dtype=pl.Int64),
    }).hstack(current).with_columns(
        pl.Series("prediction", np.where(proba >= 0.5, "1", "0")),
        pl.Series("probability", proba),
        pl.Series("latency_ms", np.random.default_rng(0).gamma(4.0, 1.5, n)))
    path = predictions_path(settings, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    log.write_delta(str(path))


def evidently_python(given: str | None) -> str:
    candidates = [given, os.environ.get("LOCKGATE_EVIDENTLY_PYTHON"),
                  "/tmp/17-evidently-venv/bin/python", "/tmp/evidently-venv/bin/python",
                  "bench/out/evidently-venv/bin/python",
                  sys.executable]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            probe = subprocess.run([candidate, "-c", "import evidently.presets"],
                                   capture_output=True, check=False)
            if probe.returncode == 0:
                return candidate
    raise SystemExit("No interpreter can import evidently; see this file's docstring, or "
                     "run with --skip-evidently.")


def run_evidently(python: str, reference: pl.DataFrame, current: pl.DataFrame,
                  folder: Path) -> dict[str, object]:
    ref_path, cur_path = folder / "reference.parquet", folder / "current.parquet"
    reference.write_parquet(ref_path)
    current.write_parquet(cur_path)
    done = subprocess.run([python, "-c", EVIDENTLY_SCRIPT, str(ref_path), str(cur_path),
                           json.dumps(NUMERIC), json.dumps(CATEGORICAL)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"Evidently failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reference-rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--evidently-python", default=None)
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--quick", action="store_true",
                        help="200,000 predictions and a 50,000-row reference")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.reference_rows = 200_000, 50_000
    sys.path.insert(0, str(Path(__file__).parent))
    import harness
    from lockgate.config import Settings
    from lockgate.data.contract import Contract
    from lockgate.monitoring import MonitorConfig, WatchedModel, measure_window, window_span
    from lockgate.quality import profile

    report = harness.Report("monitoring")
    python = None if args.skip_evidently else evidently_python(args.evidently_python)
    with tempfile.TemporaryDirectory(prefix="lockgate-bench-monitoring-") as tmp:
        folder = Path(tmp)
        print(f"building data: {args.rows:,} logged predictions x {len(NUMERIC) + len(CATEGORICAL)}"
              f" features, reference {args.reference_rows:,} rows, shifted {SHIFTED}")
        reference, current = frames(args.rows, args.reference_rows)
        pipeline = fitted(reference)
        spec = contract()
        reference_profile = profile(reference, contract=Contract.from_dict(spec)).to_dict()
        model = WatchedModel("bench", 1, pipeline, Contract.from_dict(spec), reference_profile,
                             {"problem_type": "binary", "primary_metric": "accuracy",
                              "metrics": {"accuracy": 0.9}})
        span = window_span(BASE + 3600, 3600, 300)
        config = MonitorConfig()
        cases = ["lockgate cold", "lockgate warm"] + ([] if python is None else
                                                      ["Evidently"])
        series = {c: harness.Series(c) for c in cases}
        found: dict[str, list[str]] = {}
        evidently_run = harness.Series("Evidently Report.run only")
        for repeat in range(max(3, args.repeats)):  # interleaved: A B C A B C ...
            settings = Settings(home=folder / f"home-{repeat}")  # cold: no stored buckets
            write_log(settings, "bench", current, pipeline)
            sample, cold = harness.timed(lambda s=settings: measure_window(
                model, span, settings=s, config=config))
            series["lockgate cold"].samples.append(sample)
            found["lockgate"] = sorted(r["name"] for r in cold.drift if r["drifted"])
            sample, _ = harness.timed(lambda s=settings: measure_window(
                model, span, settings=s, config=config))
            series["lockgate warm"].samples.append(sample)
            if python is not None:
                theirs = run_evidently(python, reference, current, folder)
                series["Evidently"].samples.append(harness.Sample(
                    float(theirs["with_read"]), float(theirs["with_read_cpu"])))  # type: ignore[arg-type]
                evidently_run.samples.append(harness.Sample(
                    float(theirs["seconds"]), float(theirs["cpu"])))  # type: ignore[arg-type]
                found["Evidently"] = list(theirs["drifted"])  # type: ignore[call-overload]
        n = f"{args.rows:,} predictions x 20 features"
        report.compare(f"lockgate cold: {n}: read Delta, profile 12 buckets, store, drift, "
                       "performance, record", lockgate=series["lockgate cold"],
                       goal=harness.Goal.at_most(TARGET_SECONDS,
                                                 f"≤ {TARGET_SECONDS:.0f} s per window"),
                       note=f"drifted {found['lockgate']}")
        report.compare(f"lockgate warm: {n}: merged from stored bucket profiles",
                       lockgate=series["lockgate warm"])
        report.check("lockgate found the shifted features", found=sorted(found["lockgate"]),
                     expected=sorted(SHIFTED), goal=f"exactly {sorted(SHIFTED)}")
        if python is None:
            report.skip(f"lockgate cold vs Evidently DataDriftPreset: {n}",
                        goal="not slower than Evidently", fix="python -m venv "
                        "/tmp/evidently-venv && /tmp/evidently-venv/bin/pip install evidently "
                        "'pandas<3' pyarrow, then pass --evidently-python PATH")
        else:
            report.compare(f"lockgate cold vs Evidently (read Parquet + DataDriftPreset, "
                           f"drift only): {n}", lockgate=series["lockgate cold"],
                           baseline=series["Evidently"],
                           goal=harness.Goal.at_least(1.0, "not slower than Evidently"),
                           note=f"Evidently from {python}")
            report.compare(f"lockgate cold vs Evidently Report.run only (frames in memory): "
                           f"{n}", lockgate=series["lockgate cold"], baseline=evidently_run,
                           on="rate")
            report.check("Evidently found the shifted features",
                         found=sorted(found["Evidently"]), expected=sorted(SHIFTED),
                         goal=f"exactly {sorted(SHIFTED)}")
        report.emit()


if __name__ == "__main__":
    main()
