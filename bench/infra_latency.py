"""Benchmark of the infra gate's latency verdict under machine load (issue 13).

The gate used to report the "p99" of 15 single-record predictions, which is their
maximum, on the wall clock: one preemption by another process flips the verdict. It now
warms up, times >= 200 requests and judges CPU time per request. This measures, on the
same model, idle and with busy loops on every core (A B A B ..., interleaved):

* old: max wall ms of 15 calls;
* new: p99 CPU ms (the verdict) and p99 wall ms of 200 calls after 20 warm-up calls.

Goal (issue 13): load on a shared machine cannot flip the verdict, i.e. the new
statistic's loaded/idle ratio stays near 1 while the old one's does not.

Run: .venv/bin/python bench/infra_latency.py [--repeats 5] [--hogs 2]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # as in the gate's fresh process

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

PROBE = Path(__file__).resolve().parents[1] / "src/lockgate/registry/infra_probe.py"
SPIN = "import time\nend = time.time() + {s}\nwhile time.time() < end:\n    pass\n"


def _probe() -> Any:
    spec = importlib.util.spec_from_file_location("infra_probe_bench", PROBE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _model() -> tuple[Any, list[pd.DataFrame]]:
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(2000, 8)), columns=[f"f{i}" for i in range(8)])
    y = (x["f0"] + x["f1"] * x["f2"] > 0).astype(int)
    model = HistGradientBoostingClassifier(max_iter=50).fit(x, y)
    return model, [x.iloc[[i]] for i in range(20)]


def _old(model: Any, rows: list[pd.DataFrame]) -> float:
    wall = []
    for i in range(15):
        started = time.perf_counter()
        model.predict(rows[i % len(rows)])
        wall.append((time.perf_counter() - started) * 1000)
    return max(wall)


def _new(model: Any, rows: list[pd.DataFrame], probe: Any) -> tuple[float, float]:
    for i in range(20):
        model.predict(rows[i % len(rows)])
    wall, cpu = [], []
    for i in range(200):
        started, started_cpu = time.perf_counter(), time.process_time()
        model.predict(rows[i % len(rows)])
        cpu.append((time.process_time() - started_cpu) * 1000)
        wall.append((time.perf_counter() - started) * 1000)
    return probe._quantile_ci(cpu, 0.99)[0], probe._quantile_ci(wall, 0.99)[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--hogs", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    probe = _probe()
    model, rows = _model()
    print(f"load average at start: {os.getloadavg()}", flush=True)
    results: dict[str, dict[str, list[float]]] = {
        cond: {"old max wall": [], "new p99 cpu": [], "new p99 wall": []}
        for cond in ("idle", "loaded")}
    for _ in range(args.repeats):
        for condition in ("idle", "loaded"):  # interleaved: A B A B ...
            hogs = [subprocess.Popen([sys.executable, "-c", SPIN.format(s=120)])
                    for _ in range(args.hogs if condition == "loaded" else 0)]
            try:
                time.sleep(0.5 if hogs else 0.0)
                cpu, wall = _new(model, rows, probe)
                results[condition]["old max wall"].append(_old(model, rows))
                results[condition]["new p99 cpu"].append(cpu)
                results[condition]["new p99 wall"].append(wall)
            finally:
                for hog in hogs:
                    hog.kill()
                    hog.wait()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import harness

    report = harness.Report("infra_latency")
    for name in results["idle"]:
        verdict = name == "new p99 cpu"
        report.compare(f"{name} ms per request, {args.hogs} busy loops vs idle",
                       lockgate=harness.values(results["loaded"][name]),
                       baseline=harness.values(results["idle"][name]), unit="ms",
                       goal=harness.Goal.at_most(1.5, "the verdict's statistic stays near "
                                                 "1× under load (≤ 1.5×)", on="value")
                       if verdict else None,
                       note="the gate's verdict" if verdict else "for contrast")
    report.emit()


if __name__ == "__main__":
    main()
