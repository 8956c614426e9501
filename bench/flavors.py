"""Benchmark of the model flavors (issue 20): the serving path's model call per flavor.

What is timed: ``ServedModel.predict`` (the request frame built from records, the model
loaded from its package through its flavor, labels and probabilities out) for one record
and for a batch of 100, for the same preprocessing and data with a scikit-learn
gradient-boosting model (skops), LightGBM (native text), XGBoost (native JSON) and the
scikit-learn pipeline exported to ONNX (onnxruntime). HTTP is bench/serving.py's.

Interleaved (sklearn, lightgbm, xgboost, onnx, sklearn, ...), --repeats rounds of
--calls calls each; median [min-max] of the per-call wall and CPU time over the rounds;
load average at start and end. Goal (the issue's): a flavor serves within the same
latency class as the scikit-learn model (no more than 2x its p50 for one record).

Run: .venv/bin/python bench/flavors.py [--repeats 5] [--calls 200]
Needs: .venv/bin/pip install -e ".[flavors]"
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy/sklearn load OpenMP: serving's

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits
from xgboost import XGBClassifier

from lockgate.artifacts import OnnxModel
from lockgate.data import Contract
from lockgate.registry import PackageContents, load_package, write_package
from lockgate.serving.request_schema import build_schema
from lockgate.serving.served_model import ServedModel

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

FEATURES = [f"x{i}" for i in range(8)]
CONTRACT = Contract.from_dict({"table": "bench", "version": "1", "target": "y",
                               "columns": [*({"name": f, "type": "float"} for f in FEATURES),
                                           {"name": "y", "type": "int"}]})
GOAL = 2.0


def _data(n: int = 5000) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(n, len(FEATURES))), columns=FEATURES)
    return x, (x["x0"] + x["x1"] * x["x2"] + rng.normal(0, 0.5, n) > 0).astype(int).to_numpy()


def _models(x: pd.DataFrame, y: np.ndarray) -> dict[str, Any]:
    def pipe(final: Any) -> Pipeline:
        return Pipeline([("features", ColumnTransformer([("n", StandardScaler(), FEATURES)])),
                         ("model", final)]).fit(x, y)

    linear = pipe(LogisticRegression(max_iter=500))
    return {
        "sklearn": pipe(HistGradientBoostingClassifier(max_iter=100, random_state=0)),
        "lightgbm": pipe(LGBMClassifier(n_estimators=100, num_leaves=31, n_jobs=1,
                                        verbose=-1)),
        "xgboost": pipe(XGBClassifier(n_estimators=100, max_depth=6, n_jobs=1)),
        # skl2onnx 1.20 cannot export HistGradientBoosting with numpy 2.4 (a bool in an
        # ints attribute), so ONNX is shown for a linear pipeline next to its sklearn twin
        "sklearn-linear": linear,
        "onnx-linear": OnnxModel.from_sklearn(linear, x),
    }


def _served(name: str, model: Any, root: Path) -> ServedModel:
    folder = write_package(PackageContents(model, CONTRACT, {}, {"problem_type": "binary"},
                                           {}, "# bench"), root / name)
    package = load_package(folder)
    schema = build_schema(package.contract, package.feature_columns, model_name=name,
                          label_type=str, allow_unknown_fields=False, max_batch_rows=1000)
    return ServedModel(name, 1, package, schema, "binary", ())


def _round(served: ServedModel, rows: list[dict[str, float]], calls: int) -> harness.Sample:
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        served.predict(rows)
    return harness.Sample(time.perf_counter() - wall, time.process_time() - cpu, units=calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    report = harness.Report("flavors")
    x, y = _data()
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(limits=1):
        served = {name: _served(name, model, Path(tmp)) for name, model in _models(x, y).items()}
        for size in (1, 100):
            rows = x.head(size).to_dict(orient="records")
            for s in served.values():  # warm-up
                _round(s, rows, 5)
            calls = args.calls if size == 1 else args.calls // 10
            series, _ = harness.interleave(
                {name: (lambda s=s, r=rows, c=calls: _round(s, r, c))
                 for name, s in served.items()},
                repeats=args.repeats)
            for name in served:
                twin = "sklearn-linear" if "linear" in name else "sklearn"
                if name == twin:
                    report.compare(f"{name}: ServedModel.predict, {size} record(s) per call",
                                   lockgate=series[name], on="wall", unit="calls")
                    continue
                report.compare(f"{name} vs {twin}: ServedModel.predict, {size} record(s) "
                               "per call", lockgate=series[name], baseline=series[twin],
                               unit="calls",
                               goal=harness.Goal.at_most(GOAL, f"≤ {GOAL:g}× the "
                                                         "scikit-learn twin, one record")
                               if size == 1 else None)
    report.emit()


if __name__ == "__main__":
    main()
