"""Benchmark: lockgate's modeling overhead against the model's own fit time.

    .venv/bin/python bench/modeling.py [--rows 200000] [--threads N]
    .venv/bin/python bench/modeling.py --budgets [--repeats 3] [--old]

``--budgets``: ``lockgate train``'s whole evaluation on a small real table (scikit-learn's
breast cancer, 569 rows, 30 features, grouped by patient) at the quick and standard
budgets, interleaved on the shared harness; ``--old`` adds the standard budget with the
libraries' default thread pools (what every fit used before the small-table rule).
Goal (#19): the standard budget takes seconds, not minutes, on such a table.

A synthetic churn-like table (numeric, categorical, boolean and date features, iid rows)
is trained with ``HistGradientBoostingClassifier`` through ``train_frame``. Overhead =
splitting + leakage checks (duplicates, proxies, scaling statistics, adversarial
validation) + evaluation (metrics, 200-replicate bootstrap, baseline) + diagnostics
(learning curve, permutation importance, charts). The model's own fit time is the
final fit of the pipeline on the development rows; the cross-validation fits are shown
too. Target: overhead <= 25% of the fit time. Naive protocols are off (they are extra
model fits by design, not overhead).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from lockgate.config import Settings
from lockgate.data import ColumnSpec, Contract
from lockgate.modeling import TrainConfig, train_frame

TARGET = 0.25


def table(rows: int, seed: int = 0) -> tuple[pl.DataFrame, Contract]:
    """A churn-like table with a learnable signal."""
    rng = np.random.default_rng(seed)
    numeric = {f"num_{i}": rng.normal(size=rows) for i in range(8)}
    plan = rng.choice(["basic", "standard", "premium", "family"], rows)
    region = rng.choice([f"r{i}" for i in range(30)], rows)
    paperless = rng.random(rows) < 0.5
    days = rng.integers(0, 2000, rows)
    logit = (numeric["num_0"] - 0.7 * numeric["num_1"] + 0.5 * numeric["num_2"] ** 2
             + (plan == "premium") * -0.8 + paperless * 0.3 - 0.5)
    churned = rng.random(rows) < 1 / (1 + np.exp(-logit))
    frame = pl.DataFrame({
        "id": np.arange(rows), **numeric, "plan": plan, "region": region,
        "paperless": paperless,
        "signup": [dt.date(2018, 1, 1) + dt.timedelta(days=int(d)) for d in days],
        "churned": churned,
    })
    columns = (ColumnSpec("id", "int"), *(ColumnSpec(k, "float") for k in numeric),
               ColumnSpec("plan", "category"), ColumnSpec("region", "string"),
               ColumnSpec("paperless", "bool"), ColumnSpec("signup", "date"),
               ColumnSpec("churned", "bool"))
    return frame, Contract("bench", "1", columns, primary_key=("id",), target="churned")


def breast_cancer() -> tuple[pl.DataFrame, Contract]:
    """scikit-learn's breast cancer table (shipped with it, offline) with a patient id."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    names = [f"f{i:02d}" for i in range(data.data.shape[1])]
    frame = pl.DataFrame({"patient_id": np.arange(len(data.target)),
                          **dict(zip(names, data.data.T, strict=True)),
                          "malignant": data.target.astype(np.int64)})
    columns = (ColumnSpec("patient_id", "int"), *(ColumnSpec(n, "float") for n in names),
               ColumnSpec("malignant", "int"))
    return frame, Contract("bc", "1", columns, primary_key=("patient_id",),
                           entity="patient_id", target="malignant")


def budgets(repeats: int, old: bool) -> None:
    """The whole training evaluation per budget, interleaved (see the module docstring)."""
    from harness import Goal, Report, interleave  # bench/ is on sys.path as a script

    frame, contract = breast_cancer()
    home = Path(tempfile.mkdtemp())

    def case(budget: str, threads: int | None = None):
        def work() -> None:
            config = TrainConfig.for_budget(budget, threads=threads)
            settings = Settings(home=home / f"{budget}-{threads}-{time.perf_counter_ns()}")
            train_frame(frame, contract, HistGradientBoostingClassifier(), settings=settings,
                        experiment="bench", config=config)
        return work

    cases = {"quick": case("quick"), "standard": case("standard")}
    if old:
        # every pool at the machine's core count: what each fit used before the rule
        cases["standard, default thread pools (before)"] = case("standard", os.cpu_count())
    report = Report("modeling")
    series, _ = interleave(cases, repeats=repeats)
    for name, spread in series.items():
        report.compare(f"train_frame, {name} budget (breast cancer, 569 x 30, grouped)",
                       lockgate=spread, goal=Goal.at_most(60, "seconds, not minutes (< 60 s)")
                       if name == "standard" else None)
    report.emit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=None,
                        help="OpenMP threads for the estimator (default: library default)")
    parser.add_argument("--budgets", action="store_true",
                        help="time train_frame per evaluation budget on breast cancer")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--old", action="store_true",
                        help="with --budgets: also the standard budget as it ran before")
    args = parser.parse_args()
    if args.budgets:
        budgets(args.repeats, args.old)
        return
    frame, contract = table(args.rows)
    settings = Settings(home=Path(tempfile.mkdtemp()) / ".lockgate")
    config = TrainConfig(naive=(), categorical="ordinal")  # 5 outer folds, the default
    started = time.perf_counter()
    with threadpool_limits(limits=args.threads, user_api="openmp"):
        result = train_frame(frame, contract, HistGradientBoostingClassifier(random_state=0),
                             settings=settings, experiment="bench", config=config)
    total = time.perf_counter() - started
    t = result.timings
    overhead = {k: t[k] for k in ("split", "leakage", "evaluate", "charts")}
    spent = sum(overhead.values())
    fit = t["fit_final"]
    print(f"rows={args.rows:,} features={len(contract.feature_columns)} "
          f"holdout={len(result.plan.holdout):,} folds={len(result.folds)} "
          f"threads={args.threads or 'default'}")
    print(f"model fit (final, {len(result.plan.development):,} rows): {fit:8.2f} s")
    print(f"cross-validation fits ({len(result.folds)} folds):            {t['fit_cv']:8.2f} s")
    for key, value in overhead.items():
        print(f"  overhead {key:<10} {value:8.2f} s   {value / fit:6.1%} of the fit")
    from harness import Goal, Report, values  # bench/ is on sys.path as a script

    report = Report("modeling")
    report.compare(f"train_frame overhead (split, leakage, evaluate, charts) vs the final "
                   f"fit, {args.rows:,} rows", lockgate=values([spent]), baseline=values([fit]),
                   unit="s", goal=Goal.at_most(TARGET, f"overhead ≤ {TARGET:.0%} of the "
                                               "model's fit time", on="value"),
                   why=", ".join(f"{k} {v:.2f} s" for k, v in overhead.items()),
                   note="one sample (one train_frame call)")
    print(f"overhead vs all model fits (CV + final): {spent / (fit + t['fit_cv']):.1%}")
    print(f"whole train_frame call incl. tracking and artifacts: {total:.2f} s; "
          f"holdout roc_auc={result.evaluation.metrics['roc_auc']:.4f} "
          f"(baseline {result.evaluation.baseline_metrics['roc_auc']:.4f})")
    report.emit()


if __name__ == "__main__":
    main()
