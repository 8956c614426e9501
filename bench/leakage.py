"""Leakage benchmark: one case per class of the Kapoor & Narayanan taxonomy, each injected
into a dataset bundled with scikit-learn (or seeded synthetic data), in a declared and an
undeclared form, plus clean controls (breast cancer's strong legitimate features among
them). Nothing is downloaded.

For each case the benchmark computes the naive score (what the leaky notebook reports)
and the honest score (by a protocol that knows where the leak is: fresh rows from the
same generator, the unfiltered test set, the true entity ids, the raw columns), then runs
``lockgate.modeling.audit`` and prints the flags, the reported score, the honest score and
pass/fail. Pass = the class is flagged (warning or blocking), controls raise no warning
or blocking flag, and the reported score is at most honest + TOLERANCE (or lockgate says
no honest score exists).

    .venv/bin/python bench/leakage.py            # every case
    .venv/bin/python bench/leakage.py --fast     # the subset the tests run
    .venv/bin/python bench/leakage.py --wide     # 2,500 vs 5,000 columns: linear?
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine, make_classification
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, r2_score, roc_auc_score
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    KFold,
    StratifiedKFold,
    cross_val_predict,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from lockgate.modeling.audit import AuditConfig, AuditReport, audit
from lockgate.modeling.leakage import LeakageConfig

TOLERANCE = 0.03
FAST_CONFIG = AuditConfig(n_splits=5, repeats=1, bootstrap=100,
                          leakage=LeakageConfig(permutations=9, bootstrap=100))


@dataclass(frozen=True, slots=True)
class Case:
    """One leakage case: how to build it and what lockgate must say."""

    name: str
    taxonomy: str
    variant: str                      # declared | undeclared | control
    build: Callable[[], dict[str, Any]]
    expect: frozenset[str] = frozenset()   # any of these codes must be flagged
    fast: bool = False


@dataclass(slots=True)
class Outcome:
    case: Case
    report: AuditReport
    naive: float
    honest: float
    seconds: float
    flags: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def problems(self) -> list[str]:
        out = []
        raised = set(self.flags)
        if self.case.variant == "control" and raised:
            out.append(f"false flags {sorted(raised)}")
        if self.case.expect and not (raised & self.case.expect):
            out.append(f"missed {sorted(self.case.expect)}")
        reported = self.report.reported
        if reported is not None and _better(self.report.metric, reported,
                                            self.honest, TOLERANCE):
            out.append(f"reported {reported:.3f} > honest {self.honest:.3f} + {TOLERANCE}")
        return out


def _better(metric: str, a: float, b: float, tol: float) -> bool:
    return a < b - tol if metric in ("rmse", "mae", "log_loss", "brier") else a > b + tol


# -- data ----------------------------------------------------------------------------------


def _frame(x: np.ndarray, y: np.ndarray, names: list[str] | None = None,
           target: str = "y") -> pl.DataFrame:
    names = names or [f"x{i}" for i in range(x.shape[1])]
    return pl.DataFrame({n: x[:, i] for i, n in enumerate(names)} | {target: y})


def _clean_names(names: Any) -> list[str]:
    return [str(n).replace(" ", "_") for n in names]


def _logit() -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


def _cv_auc(model: Any, x: Any, y: np.ndarray, cv: Any, groups: Any = None) -> float:
    proba = cross_val_predict(model, x, y, cv=cv, groups=groups, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, proba))


def _cv_r2(model: Any, x: Any, y: np.ndarray, cv: Any, groups: Any = None) -> float:
    return float(r2_score(y, cross_val_predict(model, x, y, cv=cv, groups=groups)))


SKF = StratifiedKFold(5, shuffle=True, random_state=0)
KF = KFold(5, shuffle=True, random_state=0)


# -- cases -----------------------------------------------------------------------------------


def control_breast_cancer() -> dict[str, Any]:
    data = load_breast_cancer()
    df = _frame(data.data, data.target, _clean_names(data.feature_names))
    x, y = df.drop("y").to_pandas(), data.target
    score = _cv_auc(_logit(), x, y, SKF)
    return {"workflow": _logit(), "data": df, "target": "y", "naive": score, "honest": score}


def control_diabetes() -> dict[str, Any]:
    data = load_diabetes()
    df = _frame(data.data, data.target, list(data.feature_names))
    score = _cv_r2(Ridge(), df.drop("y").to_pandas(), data.target, KF)
    return {"workflow": Ridge(), "data": df, "target": "y", "naive": score, "honest": score}


def control_wine() -> dict[str, Any]:
    data = load_wine()
    df = _frame(data.data, data.target, _clean_names(data.feature_names))
    pred = cross_val_predict(_logit(), df.drop("y").to_pandas(), data.target, cv=SKF)
    score = float(accuracy_score(data.target, pred))
    return {"workflow": _logit(), "data": df, "target": "y", "naive": score, "honest": score}


def control_pair() -> dict[str, Any]:
    x, y = make_classification(1200, 8, n_informative=4, flip_y=0.1, random_state=3)
    df = _frame(x, y)
    train, test = df[:800], df[800:]
    model = _logit().fit(train.drop("y").to_pandas(), train["y"].to_numpy())
    score = float(roc_auc_score(test["y"], model.predict_proba(test.drop("y").to_pandas())[:, 1]))
    return {"workflow": _logit(), "train": train, "test": test, "target": "y",
            "claimed": score, "naive": score, "honest": score}


def search_best_score(declared: bool) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        x, y = make_classification(5120, 30, n_informative=3, flip_y=0.25, random_state=1)
        xs, ys, fresh_x, fresh_y = x[:200], y[:200], x[200:], y[200:]
        grid = {"logisticregression__C": np.logspace(-3, 1, 5).tolist()}
        search = GridSearchCV(_logit(), grid, cv=3, scoring="roc_auc").fit(xs, ys)
        honest = float(roc_auc_score(fresh_y, search.predict_proba(fresh_x)[:, 1]))
        df = _frame(xs, ys)
        return {"workflow": search, "data": df, "target": "y", "naive": search.best_score_,
                "honest": honest, "claimed": search.best_score_ if declared else None}
    return build


def training_score() -> dict[str, Any]:
    x, y = make_classification(5200, 30, n_informative=4, flip_y=0.2, random_state=2)
    model = RandomForestClassifier(100, random_state=0).fit(x[:200], y[:200])
    naive = float(roc_auc_score(y[:200], model.predict_proba(x[:200])[:, 1]))
    honest = float(roc_auc_score(y[200:], model.predict_proba(x[200:])[:, 1]))
    return {"workflow": RandomForestClassifier(100, random_state=0),
            "data": _frame(x[:200], y[:200]),
            "target": "y", "naive": naive, "honest": honest, "claimed": naive}


def target_encoding(declared: bool) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        rng = np.random.default_rng(4)
        x, y = make_classification(800, 5, n_informative=3, flip_y=0.2, random_state=4)
        city = rng.integers(0, 150, 800)  # no signal, few rows per level
        means = pd.Series(y).groupby(city).transform("mean").to_numpy()
        df = _frame(np.column_stack([x, means]), y, [*(f"x{i}" for i in range(5)), "city_te"])
        naive = _cv_auc(_logit(), df.drop("y").to_pandas(), y, SKF)
        honest = _cv_auc(_logit(), df.drop("y", "city_te").to_pandas(), y, SKF)
        return {"workflow": _logit(), "data": df, "target": "y", "naive": naive,
                "honest": honest,
                "preprocessed": ["target_encoding:city_te"] if declared else []}
    return build


def label_imputation(declared: bool) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        rng = np.random.default_rng(5)
        x, y = make_classification(900, 6, n_informative=4, flip_y=0.15, random_state=5)
        raw = x.copy()
        columns = [0, 1]
        for j in columns:
            raw[rng.random(900) < 0.35, j] = np.nan
        leaky = raw.copy()
        for j in columns:
            for c in (0, 1):
                rows = np.isnan(raw[:, j]) & (y == c)
                leaky[rows, j] = np.nanmean(raw[y == c, j])
        df = _frame(leaky, y)
        naive = _cv_auc(_logit(), df.drop("y").to_pandas(), y, SKF)
        honest_model = make_pipeline(SimpleImputer(strategy="median"), _logit())
        honest = _cv_auc(honest_model, raw, y, SKF)
        return {"workflow": make_pipeline(SimpleImputer(strategy="median"), _logit()),
                "data": df, "target": "y", "naive": naive, "honest": honest,
                "preprocessed": ["label_imputation:x0,x1"] if declared else []}
    return build


def _noise_selected() -> tuple[np.ndarray, np.ndarray, list[int]]:
    rng = np.random.default_rng(6)
    x = rng.standard_normal((120, 2000))
    y = rng.integers(0, 2, 120)
    keep = SelectKBest(f_classif, k=15).fit(x, y).get_support(indices=True)
    return x, y, list(keep)


def feature_selection_declared() -> dict[str, Any]:
    x, y, keep = _noise_selected()
    df = _frame(x[:, keep], y)
    naive = _cv_auc(_logit(), df.drop("y").to_pandas(), y, SKF)
    honest = _cv_auc(make_pipeline(SelectKBest(f_classif, k=15), _logit()), x, y, SKF)
    return {"workflow": _logit(), "data": df, "target": "y", "naive": naive, "honest": honest,
            "preprocessed": ["feature_selection"]}


def feature_selection_lineage() -> dict[str, Any]:
    """The selected table was produced in lockgate by a run that read the whole table."""
    from lockgate.config import Settings
    from lockgate.data import ingest
    from lockgate.data.training_gate import read_for_training
    from lockgate.tracking import start_run

    x, y, keep = _noise_selected()
    home = Path(tempfile.mkdtemp(prefix="lg-bench-")) / ".lockgate"
    settings = Settings(home=home)
    raw = _frame(x[:, :300], y)  # 300 of the 2000 columns keep the ingestion quick
    keep = [k for k in keep if k < 300] or [0, 1, 2]
    ingest(raw, "raw_wide", _contract_of(raw, "raw_wide"), settings=settings)
    with start_run("select-features", settings=settings) as run:
        full = read_for_training("raw_wide", settings=settings, run=run)
        selected = full.select([f"x{k}" for k in keep] + ["y"])
        ingest(selected, "selected", _contract_of(selected, "selected"), settings=settings,
               run=run)
    naive = _cv_auc(_logit(), selected.drop("y").to_pandas(), y, SKF)
    honest = _cv_auc(make_pipeline(SelectKBest(f_classif, k=len(keep)), _logit()),
                     x[:, :300], y, SKF)
    return {"workflow": _logit(), "data": "selected", "target": "y", "naive": naive,
            "honest": honest, "settings": settings}


def _contract_of(frame: pl.DataFrame, table: str) -> Any:
    from lockgate.data import ColumnSpec, Contract

    cols = tuple(ColumnSpec(c, "int" if frame.schema[c].is_integer() else "float")
                 for c in frame.columns)
    return Contract(table, "1", cols, target="y")


def oversampling(declared: bool) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        x, y = make_classification(1000, 8, n_informative=3, weights=[0.88], flip_y=0.1,
                                   random_state=7)
        rng = np.random.default_rng(7)
        minority = np.flatnonzero(y == 1)
        extra = rng.choice(minority, (y == 0).sum() - minority.size, replace=True)
        xo, yo = np.vstack([x, x[extra]]), np.r_[y, y[extra]]
        model = RandomForestClassifier(100, random_state=0, n_jobs=1)
        naive = _cv_auc(model, xo, yo, SKF)
        honest = _cv_auc(model, x, y, SKF)
        return {"workflow": model, "data": _frame(xo, yo), "target": "y", "naive": naive,
                "honest": honest, "preprocessed": ["oversampling"] if declared else []}
    return build


def proxy(declared: bool) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        data = load_diabetes()
        rng = np.random.default_rng(8)
        followup = data.target + rng.normal(0, 0.12 * data.target.std(), data.target.size)
        df = _frame(np.column_stack([data.data, followup]), data.target,
                    [*data.feature_names, "followup_glucose"])
        naive = _cv_r2(Ridge(), df.drop("y").to_pandas(), data.target, KF)
        honest = _cv_r2(Ridge(), df.drop("y", "followup_glucose").to_pandas(), data.target, KF)
        return {"workflow": Ridge(), "data": df, "target": "y", "naive": naive,
                "honest": honest,
                "availability": {"followup_glucose": "after_outcome"} if declared else None}
    return build


def _drifting_series() -> tuple[pl.DataFrame, np.ndarray]:
    rng = np.random.default_rng(9)
    n = 700
    z = np.cumsum(rng.normal(0, 0.15, n))
    x = np.column_stack([z + rng.normal(0, 0.05, n), 0.5 * z + rng.normal(0, 0.05, n),
                         rng.normal(0, 1, n)])
    y = np.sin(2 * z) + 0.3 * x[:, 2] + rng.normal(0, 0.1, n)
    stamps = pd.Timestamp("2021-01-01") + pd.to_timedelta(np.arange(n), unit="D")
    df = _frame(x, y)
    return df, list(stamps.to_pydatetime())


def temporal(form: str) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        df, stamps = _drifting_series()
        if form == "declared":
            df = df.with_columns(pl.Series("date", stamps))
        elif form == "dayfirst":
            df = df.with_columns(pl.Series("date", [s.strftime("%d/%m/%Y") for s in stamps]))
        else:
            df = df.with_columns(pl.Series("date", [int(s.timestamp()) for s in stamps]))
        order = np.random.default_rng(1).permutation(df.height)  # the file is not sorted
        shuffled = df[order]
        model = RandomForestRegressor(100, random_state=0, n_jobs=1, min_samples_leaf=2)
        feats = ["x0", "x1", "x2"]
        x = shuffled.select(feats).to_pandas()
        naive = _cv_r2(model, x, shuffled["y"].to_numpy(), KF)
        cut = int(0.7 * df.height)
        fitted = clone(model).fit(df[:cut].select(feats).to_pandas(), df[:cut]["y"])
        honest = float(r2_score(df[cut:]["y"], fitted.predict(df[cut:].select(feats).to_pandas())))
        return {"workflow": model, "data": shuffled, "target": "y", "naive": naive,
                "honest": honest, "time": "date" if form == "declared" else None,
                "features": feats if form == "declared" else None}
    return build


def repeated_measurements(declared: bool) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        data = load_diabetes()
        rng = np.random.default_rng(10)
        visits = 3
        x = np.repeat(data.data, visits, axis=0)
        x = x + rng.normal(0, 0.03, x.shape) * data.data.std(axis=0)
        y = np.repeat(data.target, visits) + rng.normal(0, 5, x.shape[0])
        patient = np.repeat(np.arange(len(data.target)), visits)
        df = _frame(x, y, list(data.feature_names))
        model = RandomForestRegressor(100, random_state=0, n_jobs=1)
        naive = _cv_r2(model, df.drop("y").to_pandas(), y, KF)
        honest = _cv_r2(model, df.drop("y").to_pandas(), y, GroupKFold(5), groups=patient)
        if declared:
            df = df.with_columns(pl.Series("patient", patient.astype(str)))
        return {"workflow": model, "data": df, "target": "y", "naive": naive, "honest": honest,
                "groups": "patient" if declared else None,
                "features": list(data.feature_names) if declared else None}
    return build


def spectrum_bias(declared: bool) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        x, y = make_classification(2400, 6, n_informative=3, n_redundant=0, flip_y=0.1,
                                   class_sep=0.8, random_state=11)
        df = _frame(x, y)
        train, pool = df[:1400], df[1400:]
        model = _logit().fit(train.drop("y").to_pandas(), train["y"].to_numpy())
        margin = np.abs(model.decision_function(pool.drop("y").to_pandas()))
        clear = pool.filter(pl.Series(margin > 1.5))  # only clear-cut cases kept
        naive = float(roc_auc_score(clear["y"], model.predict_proba(
            clear.drop("y").to_pandas())[:, 1]))
        honest = float(roc_auc_score(pool["y"], model.predict_proba(
            pool.drop("y").to_pandas())[:, 1]))
        return {"workflow": _logit(), "train": train, "test": clear, "target": "y",
                "naive": naive, "honest": honest, "claimed": naive,
                "reference": pool.drop("y") if declared else None}
    return build


CASES = (
    Case("breast_cancer_clean", "control", "control", control_breast_cancer, fast=True),
    Case("diabetes_clean", "control", "control", control_diabetes),
    Case("wine_clean", "control", "control", control_wine),
    Case("user_pair_clean", "control", "control", control_pair),
    Case("search_best_cv_score", "no holdout", "declared", search_best_score(True),
         frozenset({"tuned_search_best_score"})),
    Case("search_best_cv_score", "no holdout", "undeclared", search_best_score(False),
         frozenset({"tuned_search_best_score"}), fast=True),
    Case("training_score", "no holdout", "declared", training_score,
         frozenset({"claimed_score_not_reproduced"})),
    Case("target_encoding_all_rows", "preprocessing on all rows", "declared",
         target_encoding(True), frozenset({"label_aware_preprocessing_outside_cv"})),
    Case("target_encoding_all_rows", "preprocessing on all rows", "undeclared",
         target_encoding(False), frozenset({"target_encoded_all_rows"}), fast=True),
    Case("label_aware_imputation", "preprocessing on all rows", "declared",
         label_imputation(True), frozenset({"label_aware_preprocessing_outside_cv"})),
    Case("label_aware_imputation", "preprocessing on all rows", "undeclared",
         label_imputation(False), frozenset({"label_aware_imputation"})),
    Case("selection_on_all_rows", "feature selection on all rows", "declared",
         feature_selection_declared, frozenset({"feature_selection_outside_cv"})),
    Case("selection_on_all_rows", "feature selection on all rows", "undeclared (lineage)",
         feature_selection_lineage, frozenset({"feature_selection_upstream"})),
    Case("oversampled_before_split", "duplicates across the split", "declared",
         oversampling(True), frozenset({"oversampled_before_split"})),
    Case("oversampled_before_split", "duplicates across the split", "undeclared",
         oversampling(False), frozenset({"oversampled_before_split"}), fast=True),
    Case("column_after_outcome", "illegitimate features", "declared", proxy(True),
         frozenset({"after_outcome_feature"})),
    Case("column_after_outcome", "illegitimate features", "undeclared", proxy(False),
         frozenset({"target_proxy"}), fast=True),
    Case("random_split_of_series", "temporal leakage", "declared", temporal("declared"),
         frozenset()),
    Case("random_split_of_series", "temporal leakage", "undeclared (day-first)",
         temporal("dayfirst"), frozenset({"undeclared_time"})),
    Case("random_split_of_series", "temporal leakage", "undeclared (epoch s)",
         temporal("epoch"), frozenset({"undeclared_time"})),
    Case("repeated_measurements", "non-independence", "declared",
         repeated_measurements(True), frozenset()),
    Case("repeated_measurements", "non-independence", "undeclared",
         repeated_measurements(False), frozenset({"near_duplicate_rows"}), fast=True),
    Case("clear_cut_test_set", "sampling bias", "declared", spectrum_bias(True),
         frozenset({"test_not_like_deployment", "spectrum_bias"})),
    Case("clear_cut_test_set", "sampling bias", "undeclared", spectrum_bias(False),
         frozenset({"distribution_shift", "spectrum_bias"}), fast=True),
)
_OPTIONS = ("workflow", "data", "target", "train", "test", "claimed", "preprocessed",
            "availability", "time", "groups", "features", "reference", "settings")


def run_case(case: Case, config: AuditConfig | None = None) -> Outcome:
    """Build the case, compute its naive and honest scores, audit it."""
    with threadpool_limits(limits=1, user_api="openmp"):
        spec = case.build()
        started = time.perf_counter()
        options = {k: spec[k] for k in _OPTIONS if spec.get(k) is not None}
        workflow = options.pop("workflow")
        report = audit(workflow, config=config or AuditConfig(), **options)
        seconds = time.perf_counter() - started
    flags = sorted({f.code for f in report.findings if f.severity in ("blocking", "warning")})
    return Outcome(case, report, float(spec["naive"]), float(spec["honest"]), seconds, flags)


def table(outcomes: list[Outcome]) -> str:
    """The benchmark as a Markdown table."""
    lines = ["| class | case | variant | flags | naive | reported | honest | pass |",
             "|---|---|---|---|---|---|---|---|"]
    for o in outcomes:
        rep = "none" if o.report.reported is None else f"{o.report.reported:.3f}"
        verdict = "PASS" if o.passed else "FAIL: " + "; ".join(o.problems)
        lines.append(f"| {o.case.taxonomy} | {o.case.name} | {o.case.variant} | "
                     f"{', '.join(o.flags) or '-'} | {o.naive:.3f} | {rep} | "
                     f"{o.honest:.3f} | {verdict} |")
    return "\n".join(lines)


def _wide(columns: int, rows: int = 2000) -> tuple[pl.DataFrame, pl.DataFrame, Any]:
    from lockgate.data import ColumnSpec, Contract

    rng = np.random.default_rng(columns)
    x = rng.standard_normal((rows, columns)).astype(np.float64)
    y = (x[:, 0] + x[:, 1] + rng.normal(0, 1, rows) > 0).astype(np.int64)
    df = pl.DataFrame({f"c{i}": x[:, i] for i in range(columns)} | {"y": y})
    contract = Contract("wide", "1", (*(ColumnSpec(f"c{i}", "float") for i in range(columns)),
                                      ColumnSpec("y", "int")), target="y")
    return df[: rows * 3 // 4], df[rows * 3 // 4:], contract


def wide_bench(repeats: int = 3) -> int:
    """check_leakage on 2,500 vs 5,000 columns, interleaved (A B A B ...): linear in
    columns means the 5,000-column run costs about twice the 2,500-column one."""

    from lockgate.modeling.leakage import check_leakage

    sizes = (2500, 5000)
    frames = {n: _wide(n) for n in sizes}
    harness = _harness()
    report = harness.Report("leakage")

    def case(n: int) -> Callable[[], None]:
        train, test, contract = frames[n]
        return lambda: check_leakage(train, test, contract, problem_type="binary")

    with threadpool_limits(limits=1, user_api="openmp"):
        series, _ = harness.interleave({n: case(n) for n in sizes}, repeats=repeats)
    row = report.compare("check_leakage, 5,000 vs 2,500 columns x 2,000 rows",
                         lockgate=series[5000], baseline=series[2500],
                         goal=harness.Goal.at_most(2.5, "linear in columns: ≤ 2.5× the "
                                                   "2,500-column time"))
    report.emit()
    return 0 if row.verdict == "MET" else 1


def _harness() -> Any:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import harness

    return harness


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fast", action="store_true", help="only the subset the tests run")
    parser.add_argument("--wide", action="store_true",
                        help="time the checks on 2,500 vs 5,000 columns instead")
    args = parser.parse_args(argv)
    if args.wide:
        return wide_bench()
    cases = [c for c in CASES if c.fast or not args.fast]
    outcomes = []
    started = time.perf_counter()
    errors = []
    for case in cases:
        try:
            outcomes.append(run_case(case, FAST_CONFIG if args.fast else None))
        except Exception as exc:  # a crash is a failed case, not the end of the benchmark
            errors.append(f"{case.name} [{case.variant}]: {type(exc).__name__}: {exc}")
            continue
        print(f"  {case.name} [{case.variant}]: {outcomes[-1].seconds:.1f}s", file=sys.stderr)
    print(table(outcomes))
    for error in errors:
        print(f"ERROR {error}")
    passed = sum(o.passed for o in outcomes)
    failed = len(outcomes) - passed + len(errors)
    report = _harness().Report("leakage")
    for o in outcomes:
        report.check(f"{o.case.taxonomy}: {o.case.name} [{o.case.variant}]",
                     found="PASS" if o.passed else "FAIL", expected="PASS",
                     goal="flagged (controls: not flagged), reported ≤ honest + tolerance",
                     why="; ".join(o.problems))
    for error in errors:
        report.check(error.split(":")[0], found="ERROR", expected="PASS",
                     goal="flagged (controls: not flagged)", why=error)
    report.emit()
    print(f"\n{passed} passed, {failed} failed ({time.perf_counter() - started:.0f}s)")
    return 0 if not failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
