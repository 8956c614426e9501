"""Benchmark of the quality stage: profiling and drift, each against its baselines.

1. Profile of ``--rows`` (default 10,000,000) rows x 12 columns vs Polars ``describe()``
   of the same frame. Target: <= 2x describe's time.
2. Drift of ``--drift-rows`` (default 1,000,000) vs as many rows x 13 features, 3 of them
   shifted, vs a bare numpy binned-PSI pass and Evidently's ``DataDriftPreset``. Goals
   (issue #18): within 1.3x the bare pass **in CPU time**, the same verdicts, and far
   ahead of Evidently (>= 50x).

Every comparison runs interleaved (A B A B ..., ``--repeats`` times, the first call of
each timed separately as "cold"), through ``bench/harness.py``: median [min-max] of wall
and CPU. Evidently runs in its own interpreter (a child process) and reports its own
wall and CPU time for the report step alone.

Evidently 0.7 does not import with pandas 3 (installed here), so it runs in its own
interpreter: ``--evidently-python PATH`` (default ``$LOCKGATE_BENCH_EVIDENTLY_PYTHON``
or ``/tmp/evidently-venv/bin/python``; made with ``python -m venv /tmp/evidently-venv &&
/tmp/evidently-venv/bin/pip install evidently "pandas<3" pyarrow``). Without one,
that comparison is skipped and said so.

    .venv/bin/python bench/quality.py                 # full sizes
    .venv/bin/python bench/quality.py --rows 1000000 --drift-rows 200000   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

import harness  # bench/ is on sys.path when this file runs as a script
from lockgate.quality import drift, profile

OUT = Path(__file__).parent / "out"
DEFAULT_EVIDENTLY = Path(os.environ.get("LOCKGATE_BENCH_EVIDENTLY_PYTHON") or next(
    (p for p in ("/tmp/17-evidently-venv/bin/python", "/tmp/evidently-venv/bin/python")
     if Path(p).exists()), "/tmp/evidently-venv/bin/python"))
EVIDENTLY_FIX = ("python -m venv /tmp/evidently-venv && /tmp/evidently-venv/bin/pip install "
                 "evidently 'pandas<3' pyarrow, then pass --evidently-python "
                 "/tmp/evidently-venv/bin/python")
SHIFTED = ("num_0", "num_1", "cat_0")
_EVIDENTLY_SCRIPT = r"""
import json, sys, time
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset

reference = pd.read_parquet(sys.argv[1])
current = pd.read_parquet(sys.argv[2])
start, cpu = time.perf_counter(), time.process_time()
snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
result = snapshot.dict()
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
drifted = []
for metric in result["metrics"]:
    config = metric["config"]
    if not config["type"].endswith("ValueDrift"):
        continue
    method, threshold, value = config["method"], config["threshold"], metric["value"]
    is_p_value = "p_value" in method.lower()
    if (value < threshold) if is_p_value else (value >= threshold):
        drifted.append(config["column"])
print(json.dumps({"seconds": seconds, "cpu": cpu, "drifted": sorted(drifted)}))
"""


def main() -> None:
    args = _parse()
    report = harness.Report("quality")
    print(f"lockgate quality benchmark (profile {args.rows:,} x 12, drift "
          f"{args.drift_rows:,} vs {args.drift_rows:,} x 13)\n")
    if args.only in (None, "profile"):
        _profile_bench(report, args.rows, args.repeats)
    if args.only in (None, "drift"):
        _drift_bench(report, args.drift_rows, args.evidently_python, args.repeats)
    report.emit()


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows to profile")
    parser.add_argument("--drift-rows", type=int, default=1_000_000,
                        help="rows on each side of the drift comparison")
    parser.add_argument("--repeats", type=int, default=harness.REPEATS)
    parser.add_argument("--evidently-python", type=Path, default=DEFAULT_EVIDENTLY,
                        help="an interpreter with evidently installed")
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--only", choices=("profile", "drift"), help="run one part")
    args = parser.parse_args()
    if args.skip_evidently:
        args.evidently_python = None
    return args


def _profile_frame(n: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {f"f{i}": rng.normal(i, 1 + i, n) for i in range(7)}
    columns["skewed"] = rng.exponential(3.0, n)
    columns["count"] = rng.poisson(4.0, n)
    columns["age"] = rng.integers(18, 90, n)
    columns["plan"] = rng.choice(["basic", "standard", "premium"], n)
    columns["country"] = rng.choice([f"C{i:02d}" for i in range(40)], n)
    return pl.DataFrame(columns)


def _profile_bench(report: harness.Report, n: int, repeats: int) -> None:
    frame = _profile_frame(n)
    cold = {"polars describe()": lambda: frame.describe(), "lockgate profile()":
            lambda: profile(frame)}
    first = {name: harness.timed(work)[0] for name, work in cold.items()}  # imports, pool
    report.compare(f"profile {n:,} x 12 vs polars describe() (cold, first call)",
                   lockgate=first["lockgate profile()"], baseline=first["polars describe()"])
    series, _ = harness.interleave(cold, repeats=repeats)
    report.compare(f"profile {n:,} x 12 vs polars describe() (warm)",
                   lockgate=series["lockgate profile()"], baseline=series["polars describe()"],
                   goal=harness.Goal.at_most(2.0, "≤ 2× describe()'s time"))


def _drift_frames(n: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(42)

    def make(shift: bool) -> pl.DataFrame:
        columns: dict[str, Any] = {}
        for i in range(10):
            mean, std = float(i), 1.0 + i / 4
            if shift and i == 0:
                mean += 0.5 * std  # mean shift of half a std
            if shift and i == 1:
                std *= 1.6  # variance change
            columns[f"num_{i}"] = rng.normal(mean, std, n)
        base = [0.4, 0.3, 0.2, 0.1]
        moved = [0.2, 0.3, 0.2, 0.3]
        for i in range(3):
            p = moved if shift and i == 0 else base
            columns[f"cat_{i}"] = rng.choice(["a", "b", "c", "d"], n, p=p)
        return pl.DataFrame(columns)

    return make(False), make(True)


def _drift_bench(report: harness.Report, n: int, evidently_python: Path | None,
                 repeats: int) -> None:
    reference, current = _drift_frames(n)
    cases = {"bare numpy PSI": lambda: _bare_psi(reference, current),
             "lockgate drift()": lambda: drift(reference, current)}
    if evidently_python is not None and evidently_python.exists():
        folder = Path(tempfile.mkdtemp(dir=OUT))
        reference.write_parquet(folder / "reference.parquet")
        current.write_parquet(folder / "current.parquet")
        cases["Evidently DataDriftPreset"] = lambda: _evidently(folder, evidently_python)
    found: dict[str, list[str]] = {}
    first: dict[str, harness.Sample] = {}
    for name, work in cases.items():  # cold: the first call in this process
        first[name], result = harness.timed(work)
        found[name] = sorted(_drifted(result))
    report.compare(f"drift {n:,} x 13 vs bare numpy PSI (cold, first call)",
                   lockgate=first["lockgate drift()"], baseline=first["bare numpy PSI"])
    series, results = harness.interleave(cases, repeats=repeats)
    ours, bare = series["lockgate drift()"], series["bare numpy PSI"]
    report.compare(f"drift {n:,} x 13 vs bare numpy PSI (warm)", lockgate=ours,
                   baseline=bare, goal=harness.Goal.at_most(1.3, "≤ 1.3× bare PSI CPU",
                                                            on="cpu"))
    report.check("drift verdicts, lockgate (every repeat)",
                 found=sorted({tuple(sorted(_drifted(r))) for r in
                               results["lockgate drift()"]}),
                 expected=[tuple(sorted(SHIFTED))], goal=f"exactly {sorted(SHIFTED)}")
    report.check("drift verdicts, bare PSI", found=found["bare numpy PSI"],
                 expected=sorted(SHIFTED), goal=f"exactly {sorted(SHIFTED)}")
    if "Evidently DataDriftPreset" not in series:
        report.skip("drift vs Evidently DataDriftPreset", goal="≥ 50× Evidently",
                    fix=f"no interpreter at {evidently_python}: {EVIDENTLY_FIX}")
        return
    peer = series["Evidently DataDriftPreset"]
    report.compare(f"drift {n:,} x 13 vs Evidently DataDriftPreset (cold, first call)",
                   lockgate=first["lockgate drift()"],
                   baseline=first["Evidently DataDriftPreset"])
    report.compare(f"drift {n:,} x 13 vs Evidently DataDriftPreset (warm)", lockgate=ours,
                   baseline=peer, goal=harness.Goal.at_least(50, "≥ 50× Evidently",
                                                             on="rate"),
                   note="Evidently's own report step (its child's wall and CPU)")
    report.check("Evidently verdicts", found=found["Evidently DataDriftPreset"],
                 expected=sorted(SHIFTED), goal=f"exactly {sorted(SHIFTED)}")


def _drifted(result: Any) -> list[str]:
    if isinstance(result, list):
        return result
    if isinstance(result, tuple):
        return result[1]
    return result.drifted_features


def _evidently(folder: Path, python: Path) -> tuple[harness.Sample, list[str]]:
    """Evidently's report step in its own interpreter: its own wall and CPU seconds."""
    done = subprocess.run([str(python), "-c", _EVIDENTLY_SCRIPT,
                           str(folder / "reference.parquet"), str(folder / "current.parquet")],
                          capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return harness.Sample(result["seconds"], result["cpu"]), result["drifted"]


def _bare_psi(reference: pl.DataFrame, current: pl.DataFrame, threshold: float = 0.1,
              ) -> list[str]:
    """The simplest fast drift pass: decile-binned PSI per numeric column (np.quantile +
    np.histogram), category PSI per string column (bincount of codes), flag PSI >=
    ``threshold``."""
    found = []
    for name in reference.columns:
        ref, cur = reference.get_column(name), current.get_column(name)
        if ref.dtype == pl.String:
            # Category codes from a shared Enum, counted with bincount: no Python objects.
            labels = pl.concat([ref.unique(), cur.unique()]).unique().sort()
            enum = pl.Enum(labels.to_list())
            ref_counts = np.bincount(ref.cast(enum).to_physical().to_numpy(),
                                     minlength=labels.len())
            cur_counts = np.bincount(cur.cast(enum).to_physical().to_numpy(),
                                     minlength=labels.len())
        else:
            r, c = ref.to_numpy(), cur.to_numpy()
            edges = np.quantile(r, np.linspace(0, 1, 11))
            edges[0], edges[-1] = -np.inf, np.inf
            ref_counts, _ = np.histogram(r, edges)
            cur_counts, _ = np.histogram(c, edges)
        p = np.maximum(ref_counts / ref_counts.sum(), 1e-4)
        q = np.maximum(cur_counts / cur_counts.sum(), 1e-4)
        if float(np.sum((q - p) * np.log(q / p))) >= threshold:
            found.append(name)
    return found


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    sys.exit(main())
