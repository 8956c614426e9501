"""Leakage checks: each one a named :class:`Finding` with a severity and evidence.

They run on every evaluation, on lockgate's own split and on any train/test pair a user
brings. A ``blocking`` finding marks the evaluation "not leak-free".

Limits, stated plainly: feature selection done on all rows before the data reached
lockgate leaves no trace in the data and cannot be detected; only its symptoms can
(a target proxy, a too-good naive score next to the honest one). Standardisation or
min-max scaling on all rows is detected when the statistics are exact on train+test
and not on train alone; other transforms (PCA, target encoding) fitted on all rows are
not detectable from the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import polars as pl
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_selection import SelectorMixin
from sklearn.metrics import balanced_accuracy_score, r2_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from lockgate.modeling.features import ContractLike, build_preprocessor
from lockgate.modeling.splitter import as_polars

BLOCKING, WARNING, INFO = "blocking", "warning", "info"
SEVERITIES = (BLOCKING, WARNING, INFO)


@dataclass(frozen=True, slots=True)
class Finding:
    """One leakage finding: what, how bad, and the numbers behind it."""

    code: str
    severity: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(data["code"], data["severity"], data["message"], dict(data.get("evidence", {})))

    def _repr_html_(self) -> str:
        from lockgate.modeling.display import finding_html

        return finding_html(self)


@dataclass(frozen=True, slots=True)
class LeakageConfig:
    """Thresholds of the checks (defaults suit most tabular data)."""

    proxy_blocking: float = 0.98     # single-feature AUC / balanced accuracy / R2
    proxy_warning: float = 0.95
    adversarial_auc: float = 0.75    # train-vs-test AUC above which test looks different
    adversarial: bool = True
    sample_rows: int = 5000          # rows per side for the model-based checks
    seed: int = 0


def is_leak_free(findings: Sequence[Finding]) -> bool:
    """True when no finding is blocking."""
    return not any(f.severity == BLOCKING for f in findings)


def check_leakage(train: Any, test: Any, contract: ContractLike, *, problem_type: str,
                  target: str | None = None, estimator: Any = None,
                  strategy: str | None = None,
                  config: LeakageConfig | None = None) -> list[Finding]:
    """Run every data check on a train/test pair (and the estimator, when given).

    Args:
        train: training rows (Polars or pandas), with the target.
        test: test rows, same columns.
        contract: the table's contract (features, entity, event time, primary key).
        problem_type: "binary", "multiclass" or "regression".
        target: target column (default the contract's).
        estimator: the user's estimator or pipeline, checked for pre-fitted steps.
        strategy: the split strategy used; a time split expects drift, so the
            adversarial check reports it as info there.
        config: thresholds.

    Returns:
        Findings, blocking first.
    """
    config = config or LeakageConfig()
    train, test = as_polars(train), as_polars(test)
    target = target or contract.target
    features = [c for c in contract.feature_columns if c in train.columns and c in test.columns]
    findings: list[Finding] = []
    findings += duplicate_rows(train, test, [*features, target])
    findings += entity_overlap(train, test, contract.entity, strategy)
    findings += time_overlap(train, test, contract.event_time)
    findings += recorded_after_event(train, test, contract, features)
    findings += target_proxies(train, test, features, target, problem_type, config)
    findings += fitted_on_all_rows(train, test, features)
    if estimator is not None:
        findings += prefitted_steps(estimator)
    if config.adversarial:
        findings += adversarial_validation(train, test, contract, features, strategy, config)
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(findings, key=lambda f: order[f.severity])


def no_holdout(protocol: str) -> Finding:
    """The finding for a score measured without held-out data."""
    return Finding(
        "no_holdout", BLOCKING,
        f"The {protocol} score was measured on rows the model was fit on: it is not an "
        "estimate of performance on new data. lockgate reports the holdout score instead.",
        {"protocol": protocol},
    )


def duplicate_rows(train: pl.DataFrame, test: pl.DataFrame,
                   columns: Sequence[str]) -> list[Finding]:
    """Test rows identical to a training row, exactly and after normalisation.

    Natural duplicates (data with few distinct rows) are told apart from leaked copies
    by comparing with the duplicate rate inside the training rows.
    """
    columns = [c for c in columns if c in train.columns and c in test.columns]
    if not columns or test.height == 0:
        return []
    findings = []
    exact_train, exact_test = _row_hashes(train, columns, False), _row_hashes(test, columns, False)
    norm_train, norm_test = _row_hashes(train, columns, True), _row_hashes(test, columns, True)
    exact = np.isin(exact_test, exact_train)
    normalised = np.isin(norm_test, norm_train) & ~exact
    natural = 1.0 - np.unique(norm_train).size / max(len(norm_train), 1)
    for code, hits, how in (("duplicate_rows", exact, "exactly"),
                            ("duplicate_rows_normalised", normalised,
                             "after normalising case, spaces and float rounding")):
        count = int(hits.sum())
        if not count:
            continue
        share = count / test.height
        severity = BLOCKING if share > max(0.01, 2 * natural) else INFO
        findings.append(Finding(
            code, severity,
            f"{count} test rows ({share:.1%}) equal a training row {how}; the model can "
            "recall them instead of predicting. Deduplicate the table (contract "
            "`on_duplicate: quarantine`) or declare the entity that repeats.",
            {"rows": count, "share": round(share, 4), "natural_duplicate_rate":
             round(natural, 4), "columns": list(columns)},
        ))
    return findings


def entity_overlap(train: pl.DataFrame, test: pl.DataFrame, entity: str | None,
                   strategy: str | None = None) -> list[Finding]:
    """Entities with rows on both sides of the split.

    After a time split this is expected (the model learns from each entity's past and
    is tested on its future), so it is reported as info there.
    """
    if not entity or entity not in train.columns or entity not in test.columns:
        return []
    shared = set(train[entity].drop_nulls().unique().to_list()) & set(
        test[entity].drop_nulls().unique().to_list())
    if not shared:
        return []
    rows = int(test[entity].is_in(list(shared)).sum())
    return [Finding(
        "entity_overlap", INFO if strategy == "time" else BLOCKING,
        f"{len(shared)} values of `{entity}` have rows in both train and test ({rows} test "
        "rows); the model is scored on entities it has already seen. Split by the entity "
        "(lockgate does so when the contract declares `entity`).",
        {"column": entity, "entities": len(shared), "test_rows": rows,
         "examples": [str(v) for v in sorted(shared, key=str)[:5]]},
    )]


def time_overlap(train: pl.DataFrame, test: pl.DataFrame,
                 event_time: str | None) -> list[Finding]:
    """Test rows earlier than the latest training row: the model has seen the future."""
    if not event_time or event_time not in train.columns or event_time not in test.columns:
        return []
    latest = train[event_time].max()
    if latest is None:
        return []
    early = int((test[event_time] < latest).sum())
    if not early:
        return []
    return [Finding(
        "time_overlap", BLOCKING,
        f"{early} test rows are earlier than the latest training row ({latest}); training "
        f"saw the future of those rows. Split in time order by `{event_time}`.",
        {"column": event_time, "test_rows_before_train_end": early,
         "train_end": str(latest), "test_start": str(test[event_time].min())},
    )]


def recorded_after_event(train: pl.DataFrame, test: pl.DataFrame, contract: ContractLike,
                         features: Sequence[str]) -> list[Finding]:
    """Time features recorded after the row's event time (unknown at prediction time)."""
    event = contract.event_time
    if not event or event not in train.columns:
        return []
    both = pl.concat([train, test], how="diagonal_relaxed")
    findings = []
    for name in features:
        if not both.schema[name].is_temporal():
            continue
        pair = both.select(pl.col(name).cast(pl.Datetime("us")).alias("f"),
                           pl.col(event).cast(pl.Datetime("us")).alias("e")).drop_nulls()
        if pair.height == 0:
            continue
        after = int((pair["f"] > pair["e"]).sum())
        share = after / pair.height
        if share > 0.01:
            findings.append(Finding(
                "recorded_after_event", BLOCKING,
                f"`{name}` is later than the event time `{event}` on {after} rows "
                f"({share:.0%}): it is recorded after the event and is not known when the "
                "prediction is made. Drop it from the features.",
                {"column": name, "rows_after": after, "share": round(share, 4)},
            ))
    return findings


def target_proxies(train: pl.DataFrame, test: pl.DataFrame, features: Sequence[str],
                   target: str, problem_type: str,
                   config: LeakageConfig) -> list[Finding]:
    """Single features that alone predict the target almost perfectly on the test rows."""
    if target not in train.columns or target not in test.columns:
        return []
    rng = np.random.default_rng(config.seed)
    tr = _sample(train.filter(pl.col(target).is_not_null()), 2 * config.sample_rows, rng)
    te = _sample(test.filter(pl.col(target).is_not_null()), config.sample_rows, rng)
    if tr.height < 10 or te.height < 10:
        return []
    y_tr, y_te = _target_values(tr[target], problem_type), _target_values(te[target], problem_type)
    if problem_type != "regression" and np.unique(y_te).size < 2:
        return []
    findings = []
    for name in features:
        score = _single_feature_score(tr[name], te[name], y_tr, y_te, problem_type)
        if score is None or score < config.proxy_warning:
            continue
        metric = {"binary": "roc_auc", "multiclass": "balanced_accuracy"}.get(problem_type, "r2")
        blocking = score >= config.proxy_blocking
        findings.append(Finding(
            "target_proxy", BLOCKING if blocking else WARNING,
            f"`{name}` alone predicts `{target}` with {metric}={score:.3f} on the test "
            "rows: it is probably derived from the target or recorded after it. Drop it "
            "from the features unless it is truly known at prediction time.",
            {"column": name, "metric": metric, "score": round(float(score), 4)},
        ))
    return findings


def fitted_on_all_rows(train: pl.DataFrame, test: pl.DataFrame,
                       features: Sequence[str]) -> list[Finding]:
    """Numeric features standardised or min-max scaled with statistics of train + test.

    The statistics are exact (mean 0 and sd 1, or min 0 and max 1) on all rows but not
    on the training rows alone: the scaler saw the test rows.
    """
    findings = []
    for name in features:
        if not train.schema[name].is_numeric() or train.schema[name] == pl.Boolean:
            continue
        a = train[name].drop_nulls().cast(pl.Float64).to_numpy()
        b = test[name].drop_nulls().cast(pl.Float64).to_numpy()
        if a.size < 10 or b.size < 2:
            continue
        both = np.concatenate([a, b])
        kind = None
        if _standardised(both) and not _standardised(a):
            kind = "standardised"
        elif both.min() == 0 and both.max() == 1 and not (a.min() == 0 and a.max() == 1) \
                and np.unique(both).size > 2:
            kind = "min-max scaled"
        if kind:
            findings.append(Finding(
                "preprocessing_outside_cv", BLOCKING,
                f"`{name}` is {kind} exactly over train+test rows together, not over the "
                "training rows: it was preprocessed before the split, so test statistics "
                "leaked into training. Give lockgate the raw column; the pipeline scales "
                "inside each fold.",
                {"column": name, "kind": kind, "mean_all": float(both.mean()),
                 "std_all": float(both.std()), "mean_train": float(a.mean())},
            ))
    return findings


def prefitted_steps(estimator: Any) -> list[Finding]:
    """Transformers or selectors already fitted before lockgate saw the split."""
    steps = getattr(estimator, "steps", None) or [("estimator", estimator)]
    findings = []
    for name, step in steps:
        if not isinstance(step, BaseEstimator) or not _is_fitted(step):
            continue
        selector = isinstance(step, SelectorMixin)
        code = "feature_selection_outside_cv" if selector else "preprocessing_outside_cv"
        findings.append(Finding(
            code, WARNING,
            f"Step `{name}` ({type(step).__name__}) was already fitted when handed in, so "
            "it may have seen the test rows. lockgate clones it and refits it inside every "
            "fold; a score computed with the pre-fitted object is not honest.",
            {"step": name, "type": type(step).__name__, "selector": selector},
        ))
    return findings


def adversarial_validation(train: pl.DataFrame, test: pl.DataFrame, contract: ContractLike,
                           features: Sequence[str], strategy: str | None,
                           config: LeakageConfig) -> list[Finding]:
    """Can a classifier tell train rows from test rows? If so they differ in distribution."""
    rng = np.random.default_rng(config.seed)
    a, b = _sample(train, config.sample_rows, rng), _sample(test, config.sample_rows, rng)
    if a.height < 20 or b.height < 20 or not features:
        return []
    both = pl.concat([a.select(features), b.select(features)], how="vertical_relaxed")
    label = np.r_[np.zeros(a.height), np.ones(b.height)]
    x = build_preprocessor(contract, categorical="ordinal", features=features).fit_transform(both)
    model = HistGradientBoostingClassifier(max_iter=30, max_depth=4, random_state=config.seed)
    cv = StratifiedKFold(3, shuffle=True, random_state=config.seed)
    # one thread: on small samples OpenMP start-up and contention cost more than they save
    with threadpool_limits(limits=1, user_api="openmp"):
        proba = cross_val_predict(model, x, label, cv=cv, method="predict_proba")[:, 1]
        auc = float(roc_auc_score(label, proba))
        if auc < config.adversarial_auc:
            return []
        top = _top_shift_columns(x, label, features, contract, config.seed)
    expected = strategy == "time"
    return [Finding(
        "distribution_shift", INFO if expected else WARNING,
        f"A classifier tells test rows from training rows with AUC {auc:.2f}: the test set "
        f"comes from a different distribution (most different: {', '.join(top)})."
        + (" Expected to some degree with a time split." if expected else
           " The test score may not reflect the training distribution."),
        {"auc": round(auc, 4), "columns": top},
    )]


def _top_shift_columns(x: np.ndarray, label: np.ndarray, features: Sequence[str],
                       contract: ContractLike, seed: int) -> list[str]:
    model = HistGradientBoostingClassifier(max_iter=30, max_depth=3, random_state=seed)
    model.fit(x, label)
    gains = []
    base = model.score(x, label)
    rng = np.random.default_rng(seed)
    for j in range(x.shape[1]):
        shuffled = x.copy()
        shuffled[:, j] = rng.permutation(shuffled[:, j])
        gains.append(base - model.score(shuffled, label))
    columns = _output_columns(features, contract, x.shape[1])
    ranked = [columns[j] for j in np.argsort(gains)[::-1]]
    return list(dict.fromkeys(ranked))[:3]  # calendar parts share their column's name


def _output_columns(features: Sequence[str], contract: ContractLike, width: int) -> list[str]:
    types = {c.name: c.type for c in contract.columns}
    groups: dict[str, list[str]] = {"n": [], "c": [], "d": [], "b": []}
    for name in features:
        kind = types[name]
        key = ("n" if kind in ("int", "float") else "c" if kind in ("string", "category")
               else "d" if kind in ("date", "datetime") else "b")
        groups[key].append(name)
    out = groups["n"] + groups["c"] + [n for n in groups["d"] for _ in range(5)] + groups["b"]
    return out if len(out) == width else [f"x{i}" for i in range(width)]


def _standardised(values: np.ndarray) -> bool:
    mean = values.mean()
    return abs(mean) < 1e-9 and (abs(values.std() - 1) < 1e-9
                                 or abs(values.std(ddof=1) - 1) < 1e-9)


def _is_fitted(step: Any) -> bool:
    try:
        check_is_fitted(step)
    except Exception:
        return False
    return True


def _sample(frame: pl.DataFrame, n: int, rng: np.random.Generator) -> pl.DataFrame:
    if frame.height <= n:
        return frame
    return frame[np.sort(rng.choice(frame.height, n, replace=False))]


def _target_values(series: pl.Series, problem_type: str) -> np.ndarray:
    if problem_type == "regression":
        return series.cast(pl.Float64).to_numpy()
    return series.cast(pl.String).to_numpy()


def _row_hashes(frame: pl.DataFrame, columns: Sequence[str], normalise: bool) -> np.ndarray:
    exprs = []
    for name in columns:
        col, dtype = pl.col(name), frame.schema[name]
        if normalise and dtype in (pl.String, pl.Categorical, pl.Enum):
            col = col.cast(pl.String).str.to_lowercase().str.strip_chars() \
                .str.replace_all(r"\s+", " ")
        elif normalise and dtype.is_float():
            col = col.round_sig_figs(6)
        elif dtype in (pl.Categorical, pl.Enum):
            col = col.cast(pl.String)
        exprs.append(col.alias(name))
    return frame.select(exprs).hash_rows(seed=7).to_numpy()


def _single_feature_score(x_tr: pl.Series, x_te: pl.Series, y_tr: np.ndarray,
                          y_te: np.ndarray, problem_type: str) -> float | None:
    dtype = x_tr.dtype
    if dtype in (pl.String, pl.Categorical, pl.Enum):
        a = x_tr.cast(pl.String).fill_null("\x00").to_numpy()
        b = x_te.cast(pl.String).fill_null("\x00").to_numpy()
        if np.unique(a).size > 0.5 * a.size:
            return None  # identifier-like: a lookup would only memorise rows
        pred = _category_lookup(a, b, y_tr, problem_type)
    elif dtype.is_numeric() or dtype.is_temporal() or dtype == pl.Boolean:
        a = x_tr.cast(pl.Float64) if not dtype.is_temporal() else x_tr.cast(pl.Int64)
        b = x_te.cast(pl.Float64) if not dtype.is_temporal() else x_te.cast(pl.Int64)
        a = a.cast(pl.Float64).to_numpy().reshape(-1, 1)
        b = b.cast(pl.Float64).to_numpy().reshape(-1, 1)
        if problem_type == "regression":
            tree: Any = DecisionTreeRegressor(max_depth=8, min_samples_leaf=5, random_state=0)
            pred = tree.fit(a, y_tr).predict(b)
        else:
            tree = DecisionTreeClassifier(max_depth=8, min_samples_leaf=5, random_state=0)
            tree.fit(a, y_tr)
            pred = (tree.predict_proba(b)[:, list(tree.classes_).index(_positive(y_tr))]
                    if problem_type == "binary" else tree.predict(b))
    else:
        return None
    return _proxy_score(y_te, pred, y_tr, problem_type)


def _positive(y: np.ndarray) -> Any:
    return sorted(np.unique(y))[-1]


def _category_lookup(a: np.ndarray, b: np.ndarray, y_tr: np.ndarray,
                     problem_type: str) -> np.ndarray:
    frame = pl.DataFrame({"x": a, "y": y_tr})
    if problem_type == "regression":
        table = frame.group_by("x").agg(pl.col("y").mean())
        fallback: Any = float(np.mean(y_tr))
    elif problem_type == "binary":
        positive = _positive(y_tr)
        table = frame.group_by("x").agg((pl.col("y") == positive).mean())
        fallback = float(np.mean(y_tr == positive))
    else:
        table = frame.group_by("x").agg(pl.col("y").mode().first())
        fallback = pl.Series(y_tr).mode()[0]
    mapping = dict(zip(table["x"].to_list(), table["y"].to_list(), strict=True))
    return np.asarray([mapping.get(v, fallback) for v in b])


def _proxy_score(y_te: np.ndarray, pred: np.ndarray, y_tr: np.ndarray,
                 problem_type: str) -> float | None:
    if problem_type == "binary":
        return float(roc_auc_score(y_te == _positive(y_tr), pred))
    if problem_type == "multiclass":
        return float(balanced_accuracy_score(y_te, pred.astype(str)))
    if np.var(y_te) == 0:
        return None
    return float(r2_score(y_te, pred))
