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
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import polars as pl
from scipy import stats
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.feature_selection import SelectorMixin
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from lockgate.data.finding import Finding, Severity
from lockgate.errors import ConfigError
from lockgate.modeling.evaluation import (
    Predictions,
    bootstrap_weights,
    metric_values,
    point_metrics,
)
from lockgate.modeling.features import ContractLike, build_preprocessor
from lockgate.modeling.splitter import as_polars
from lockgate.modeling.timestamps import parse_time
from lockgate.user_types import Estimator, FrameLike

BLOCKING, WARNING, INFO = Severity.BLOCKING, Severity.WARNING, Severity.INFO
SEVERITIES = (BLOCKING, WARNING, INFO)


@dataclass(frozen=True, slots=True)
class LeakageConfig:
    """Thresholds of the checks (defaults suit most tabular data)."""

    #: screen: a column is tested as a proxy when alone it ranks the target this well
    #: (AUC 0.95 / |Spearman| 0.9 / rank eta^2 0.9, as skill in [0, 1])
    proxy_screen: float = 0.9
    #: implausibly good alone: the 95% lower bound of its out-of-fold score (AUC or R2)
    proxy_plausible: float = 0.97
    #: and it carries skill the rest of the features cannot: lower bound of the gap
    proxy_margin: float = 0.02
    proxy_candidates: int = 5
    #: wide tables: the model-based checks use at most this many columns, the strongest
    #: by a vectorised univariate screen (re-run on every permutation, so the null
    #: includes the screening and stays valid)
    max_model_columns: int = 200
    #: adversarial validation: a membership classifier's AUC must beat every permuted
    #: null and exceed the null mean by this effect size (big data does not cry wolf)
    adversarial_effect: float = 0.1
    permutations: int = 9            # with the effect size, 9 suffice (null sd ~0.02)
    adversarial_rows: int = 1500     # rows per side for the membership classifier
    adversarial: bool = True
    bootstrap: int = 200
    sample_rows: int = 5000          # rows per side for the model-based checks
    seed: int = 0


def is_leak_free(findings: Sequence[Finding]) -> bool:
    """True when no finding is blocking."""
    return not any(f.severity == BLOCKING for f in findings)


def check_leakage(train: FrameLike, test: FrameLike, contract: ContractLike, *,
                  problem_type: str, target: str | None = None,
                  estimator: Estimator | None = None,
                  strategy: str | None = None,
                  config: LeakageConfig | None = None,
                  reference: FrameLike | None = None) -> list[Finding]:
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
        reference: an unlabeled sample of the rows the model will meet in deployment;
            the test rows are checked against it too (sampling / spectrum bias).

    Returns:
        Findings, blocking first.
    """
    config = config or LeakageConfig()
    train, test = as_polars(train), as_polars(test)
    target = target or contract.target
    if target is None:
        raise ConfigError("The leakage audit needs a target column: declare `target:` in "
                          "the contract or pass `target=`.")
    present = set(train.columns) & set(test.columns)  # sets: `in frame.columns` is O(width)
    features = [c for c in contract.feature_columns if c in present]
    findings: list[Finding] = []
    findings += duplicate_rows(train, test, [*features, target])
    findings += entity_overlap(train, test, contract.entity, strategy)
    findings += time_overlap(train, test, contract.event_time)
    findings += recorded_after_event(train, test, contract, features)
    findings += declared_after_outcome(contract, features)
    exempt = declared_at_prediction(contract)
    findings += target_proxies(train, test, [f for f in features if f not in blocked_columns(
        findings)], target, problem_type, config, exempt=exempt)
    findings += fitted_on_all_rows(train, test, features)
    both = pl.concat([train, test], how="diagonal_relaxed")
    findings += target_encoded(both, features, target, problem_type)
    taken = set(blocked_columns(findings))  # a proxy's zeros are not an imputation
    findings += label_imputed(both, [f for f in features if f not in taken], target,
                              problem_type)
    findings += oversampled(train, [*features, target], target, problem_type)
    if estimator is not None:
        findings += prefitted_steps(estimator)
    if config.adversarial:
        findings += adversarial_validation(train, test, contract, features, strategy, config)
        if reference is not None:
            findings += adversarial_validation(
                as_polars(reference), test, contract, features, None, config,
                code="test_not_like_deployment", against="deployment reference sample")
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
    present = set(train.columns) & set(test.columns)
    columns = [c for c in columns if c in present]
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
        f"{early} test rows are earlier than the latest training row ({latest!s}); training "
        f"saw the future of those rows. Split in time order by `{event_time}`.",
        {"column": event_time, "test_rows_before_train_end": early,
         "train_end": str(latest), "test_start": str(test[event_time].min())},
    )]


def recorded_after_event(train: pl.DataFrame, test: pl.DataFrame, contract: ContractLike,
                         features: Sequence[str]) -> list[Finding]:
    """Features holding a timestamp later than the row's event time (unknown at
    prediction time): typed dates and datetimes, and timestamps kept as non-ISO strings
    or epoch numbers (a point-in-time check for any column with a timestamp)."""
    event = contract.event_time
    if not event or event not in train.columns:
        return []
    both = pl.concat([train, test], how="diagonal_relaxed")
    event_times = parse_time(both[event])
    if event_times is None:
        return []
    findings = []
    schema = both.schema  # once: rebuilding it per column is quadratic on wide tables
    for name in features:
        dtype = schema[name]
        if not (dtype.is_temporal() or dtype in (pl.String, pl.Categorical)
                or (dtype.is_integer() or dtype.is_float())):
            continue
        parsed = parse_time(both[name])
        if parsed is None:
            continue
        pair = pl.DataFrame({"f": parsed.values, "e": event_times.values}).drop_nulls()
        if pair.height == 0:
            continue
        after = int((pair["f"] > pair["e"]).sum())
        share = after / pair.height
        if share > 0.01:
            findings.append(Finding(
                "recorded_after_event", BLOCKING,
                f"`{name}` is later than the event time `{event}` on {after} rows "
                f"({share:.0%}): it is recorded after the event and is not known when the "
                "prediction is made. It is excluded from the model; drop it or declare it "
                "`available: after_outcome`.",
                {"column": name, "rows_after": after, "share": round(share, 4),
                 "read_as": parsed.how},
            ))
    return findings


def target_proxies(train: pl.DataFrame, test: pl.DataFrame | None, features: Sequence[str],
                   target: str, problem_type: str, config: LeakageConfig,
                   exempt: Sequence[str] = ()) -> list[Finding]:
    """Columns that carry skill the rest of the features cannot explain, implausibly well.

    Why relative: a strong legitimate feature (a tumour's worst radius) is strong among
    correlated peers, so the model without it loses nothing; a proxy (a code recorded
    after the diagnosis) alone beats everything else together. Each screened column is
    scored out of fold alone and the rest without the screened columns; a paired
    bootstrap over rows gives the 95% bounds. A column is a proxy when its lower bound
    alone is implausibly high *and* the lower bound of its lead over the rest is
    positive; when the point estimates say so but the bounds do not (little data) the
    finding is ``insufficient evidence``, never an alarm. Columns declared
    ``available: at_prediction`` explicitly in the contract are exempt.
    """
    both = pl.concat([train, test], how="diagonal_relaxed") if test is not None else train
    if target not in both.columns:
        return []
    rng = np.random.default_rng(config.seed)
    both = _sample(both.filter(pl.col(target).is_not_null()), 3 * config.sample_rows, rng)
    names = [f for f in features if f not in set(exempt)]
    x, usable = numeric_matrix(both, names)
    if both.height < 20 or not usable:
        return []
    y = _target_values(both[target], problem_type)
    if problem_type != "regression" and np.unique(y).size < 2:
        return []
    screen = rng.choice(len(y), min(len(y), 2000), replace=False)  # ranks: O(n log n) each
    skill = univariate_skill(x[screen], y[screen], problem_type)
    order = [j for j in np.argsort(-skill)[:config.proxy_candidates]
             if skill[j] >= config.proxy_screen]
    if not order:
        return []
    chosen = set(order)
    others = [int(j) for j in np.argsort(-skill) if j not in chosen][:config.max_model_columns]
    # the rest is the same model for every candidate: fitted once, not once per candidate
    rest = _oof(x[:, others], y, problem_type, config.seed) if others else None
    findings = []
    for j in order:
        finding = _proxy_test(x, y, j, rest, len(others), usable[j], target, problem_type,
                              config)
        if finding is not None:
            findings.append(finding)
    return findings


def _proxy_test(x: np.ndarray, y: np.ndarray, j: int, rest: Predictions | None,
                n_rest: int, name: str, target: str, problem_type: str,
                config: LeakageConfig) -> Finding | None:
    single = _oof(x[:, [j]], y, problem_type, config.seed)
    metric = "r2" if problem_type == "regression" else "roc_auc"
    weights = bootstrap_weights(len(y), config.bootstrap, config.seed)
    s_boot = metric_values(single, weights)[metric]
    r_boot = (metric_values(rest, weights)[metric] if rest is not None
              else np.full_like(s_boot, 0.0 if metric == "r2" else 0.5))
    s_point = point_metrics(single)[metric]
    r_point = point_metrics(rest)[metric] if rest is not None else float(r_boot[0])
    s_low = float(np.nanquantile(s_boot, 0.025))
    gap_low = float(np.nanquantile(s_boot - r_boot, 0.025))
    evidence = {"column": name, "metric": metric, "alone": round(s_point, 4),
                "alone_ci_low": round(s_low, 4), "rest": round(r_point, 4),
                "lead_ci_low": round(gap_low, 4), "rows": len(y),
                "rest_columns": n_rest}
    if s_low >= config.proxy_plausible and gap_low > config.proxy_margin:
        return Finding(
            "target_proxy", BLOCKING,
            f"`{name}` alone predicts `{target}` with {metric}={s_point:.3f} (95% lower bound "
            f"{s_low:.3f}) while all the other features together reach {r_point:.3f}: one "
            "column carries skill nothing else explains, the mark of a value derived from "
            "the target or recorded after it. It is excluded from the reported score. If it "
            "is truly known at prediction time, declare it `available: at_prediction` in "
            "the contract.", evidence)
    if s_point >= config.proxy_plausible and s_point - r_point > config.proxy_margin:
        return Finding(
            "target_proxy", INFO,
            f"`{name}` looks like a proxy of `{target}` ({metric}={s_point:.3f} alone vs "
            f"{r_point:.3f} for the rest), but {len(y)} rows are insufficient evidence "
            f"(95% lower bounds: alone {s_low:.3f}, lead {gap_low:.3f}).",
            evidence | {"insufficient_evidence": True})
    return None


def _oof(x: np.ndarray, y: np.ndarray, problem_type: str, seed: int) -> Predictions:
    """Out-of-fold predictions of a small boosted model (5 folds)."""
    if problem_type == "regression":
        model: Any = HistGradientBoostingRegressor(max_iter=60, max_depth=4, random_state=seed)
        cv: Any = KFold(5, shuffle=True, random_state=seed)
        with threadpool_limits(limits=1, user_api="openmp"):
            pred = cross_val_predict(model, x, y, cv=cv)
        return Predictions("regression", y.astype(float), np.asarray(pred, float))
    classes = np.unique(y)
    codes = np.searchsorted(classes, y)
    folds = min(5, int(np.bincount(codes).min())) if len(classes) else 2
    cv = StratifiedKFold(max(folds, 2), shuffle=True, random_state=seed)
    model = HistGradientBoostingClassifier(max_iter=60, max_depth=4, random_state=seed)
    with threadpool_limits(limits=1, user_api="openmp"):
        proba = cross_val_predict(model, x, codes, cv=cv, method="predict_proba")
    kind = "binary" if len(classes) == 2 else "multiclass"
    return Predictions(kind, codes, proba.argmax(axis=1), proba, tuple(range(len(classes))))


def numeric_matrix(frame: pl.DataFrame, features: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Features as one float matrix for the model-based checks: numbers as they are,
    times as epoch numbers, low-cardinality strings as codes; id-like strings left out."""
    schema = frame.schema
    exprs, names = [], []
    for name in features:
        dtype = schema[name]
        if dtype.is_numeric() or dtype == pl.Boolean:
            exprs.append(pl.col(name).cast(pl.Float64))
        elif dtype.is_temporal():
            exprs.append(pl.col(name).cast(pl.Datetime("us")).cast(pl.Int64).cast(pl.Float64))
        elif dtype in (pl.String, pl.Categorical, pl.Enum):
            if frame[name].n_unique() > 0.5 * max(frame.height, 1):
                continue
            exprs.append(pl.col(name).cast(pl.String).rank("dense").cast(pl.Float64))
        else:
            continue
        names.append(name)
    if not exprs:
        return np.empty((frame.height, 0)), []
    return frame.select(exprs).to_numpy().astype(np.float64), names


def univariate_skill(x: np.ndarray, y: np.ndarray, problem_type: str) -> np.ndarray:
    """How well each column alone ranks the target, in [0, 1], for all columns at once:
    2|AUC - 0.5| (binary), |Spearman rho| (regression), eta^2 of ranks (multiclass)."""
    filled = np.where(np.isnan(x), np.nanmedian(x, axis=0), x)
    filled = np.where(np.isnan(filled), 0.0, filled)
    ranks = stats.rankdata(filled, axis=0)
    n = len(y)
    if problem_type == "binary":
        positive = y == sorted(np.unique(y))[-1]
        n1 = positive.sum()
        auc = (ranks[positive].sum(axis=0) - n1 * (n1 + 1) / 2) / max(n1 * (n - n1), 1)
        return np.abs(2 * auc - 1)
    centred = ranks - ranks.mean(axis=0)
    total = (centred ** 2).sum(axis=0)
    total = np.where(total > 0, total, np.inf)
    if problem_type == "regression":
        ry = stats.rankdata(y) - (n + 1) / 2
        return np.abs(ry @ centred) / np.sqrt(total * (ry @ ry))
    between = np.zeros(x.shape[1])
    for value in np.unique(y):
        rows = y == value
        between += rows.sum() * centred[rows].mean(axis=0) ** 2
    return between / total


def declared_after_outcome(contract: ContractLike, features: Sequence[str]) -> list[Finding]:
    """Features the contract says become known after the prediction time."""
    findings = []
    for col in contract.columns:
        available = getattr(col, "available", "at_prediction")
        if col.name not in features or available == "at_prediction":
            continue
        findings.append(Finding(
            "after_outcome_feature", BLOCKING,
            f"`{col.name}` is declared `available: {available}` in the contract: it is not "
            "known when the prediction is made, so it is excluded from the features and "
            "from every reported score.", {"column": col.name, "available": available}))
    return findings


def declared_at_prediction(contract: ContractLike) -> list[str]:
    """Columns the contract explicitly vouches for (`available: at_prediction` written)."""
    vouched = getattr(contract, "vouched", None)
    return list(vouched) if vouched else []


#: Codes whose ``column`` evidence names a feature that must not be in the model.
COLUMN_BLOCKS = frozenset({"target_proxy", "recorded_after_event", "after_outcome_feature",
                           "target_encoded_all_rows"})


def blocked_columns(findings: Sequence[Finding]) -> list[str]:
    """Feature columns a blocking finding takes out of the model."""
    return list(dict.fromkeys(f.evidence["column"] for f in findings
                              if f.severity == BLOCKING and f.code in COLUMN_BLOCKS
                              and "column" in f.evidence))


def target_encoded(frame: pl.DataFrame, features: Sequence[str], target: str,
                   problem_type: str) -> list[Finding]:
    """Numeric columns whose every level equals the (optionally smoothed) mean target of
    its rows over the whole table: a target encoding fitted on all rows, test included."""
    if target not in frame.columns or problem_type == "multiclass" or frame.height < 20:
        return []
    y = frame[target].cast(pl.Float64) if problem_type == "regression" else (
        frame[target].cast(pl.String) == str(_positive(frame[target].cast(pl.String)
                                                       .drop_nulls().to_numpy())))
    data = frame.with_columns(y.cast(pl.Float64).alias("__y__"))
    prior = float(cast(float, data["__y__"].mean()))
    schema = frame.schema
    findings = []
    for name in features:
        if not schema[name].is_float():
            continue
        levels = frame[name].n_unique()
        if not 3 <= levels <= max(20, 0.05 * frame.height):  # 2 levels: a proxy's job
            continue
        table = data.group_by(name).agg(pl.col("__y__").mean().alias("m"), pl.len().alias("n")) \
            .drop_nulls(name)
        strength = _encoding_strength(table[name].to_numpy(), table["m"].to_numpy(),
                                      table["n"].to_numpy(), prior)
        if strength is None:
            continue
        findings.append(Finding(
            "target_encoded_all_rows", BLOCKING,
            f"`{name}` takes {levels} values and each equals the mean `{target}` of its rows "
            f"over the whole table ({strength}): it is a target encoding fitted on all rows, "
            "so every test row's own label is inside its feature. It is excluded from the "
            "reported score; hand lockgate the raw category and encode inside the folds "
            "(sklearn TargetEncoder in the pipeline).",
            {"column": name, "levels": levels, "fit": strength}))
    return findings


def _encoding_strength(values: np.ndarray, means: np.ndarray, counts: np.ndarray,
                       prior: float) -> str | None:
    values = values.astype(np.float64)
    if np.allclose(values, means, rtol=1e-6, atol=1e-9):
        return "exact group means"
    # smoothed: value = (n*mean + m*prior) / (n + m) for one m >= 0 across levels
    with np.errstate(divide="ignore", invalid="ignore"):
        m = counts * (means - values) / (values - prior)
    ok = np.isfinite(m) & (np.abs(values - prior) > 1e-9)
    if ok.sum() < 2 or np.any(m[ok] < -1e-6):
        return None
    if np.ptp(m[ok]) <= 1e-4 * max(1.0, float(np.abs(m[ok]).mean())):
        return f"group means shrunk to the prior with weight m={float(m[ok].mean()):.3g}"
    return None


def label_imputed(frame: pl.DataFrame, features: Sequence[str], target: str,
                  problem_type: str) -> list[Finding]:
    """Fill values of continuous columns that sort rows by label: missing values imputed
    per class (e.g. the class mean), which writes the label into the feature.

    A value repeated on at least 1% of the rows of a column that is otherwise continuous,
    whose rows are almost all of one class when the prior says otherwise (binomial
    p < 1e-6).
    """
    if problem_type == "regression" or target not in frame.columns or frame.height < 50:
        return []
    y = frame[target].cast(pl.String)
    prior = y.value_counts(normalize=True)
    share = dict(zip(prior[target].to_list(), prior["proportion"].to_list(), strict=True))
    schema = frame.schema
    findings = []
    for name in features:
        if not schema[name].is_float():
            continue
        fills = _label_fills(frame[name], y, share)
        if fills:
            findings.append(Finding(
                "label_aware_imputation", BLOCKING,
                f"`{name}` repeats {len(fills)} fill value(s) "
                f"({', '.join(f'{v:g}' for v in fills)}) each on rows of one class only: "
                "missing values were imputed using the label "
                "(per-class statistics). The honest estimate treats those values as missing "
                "and imputes inside the folds; put the imputer in the pipeline.",
                {"column": name, "fill_values": [float(v) for v in fills]}))
    return findings


def _label_fills(column: pl.Series, y: pl.Series, share: dict[str, float]) -> list[float]:
    n = column.len()
    counts = column.drop_nulls().value_counts(sort=True).head(5)
    if column.n_unique() < 0.3 * n:
        return []  # not a continuous column: repeats are natural
    fills = []
    for value, count in counts.iter_rows():
        if count < max(5, 0.01 * n):
            break
        labels = y.filter(column == value)
        top = labels.mode().sort()[0]
        hits = int((labels == top).sum())
        p = stats.binomtest(hits, labels.len(), share.get(top, 0.5), alternative="greater")
        if hits >= 0.95 * labels.len() and p.pvalue < 1e-6:
            fills.append(float(value))
    return fills


def oversampled(frame: pl.DataFrame, columns: Sequence[str], target: str,
                problem_type: str) -> list[Finding]:
    """Exact copies of rows made before the split (naive oversampling of a class).

    Copies of rows with a continuous column are not natural; copies concentrated in one
    class (Fisher's exact test) are the mark of oversampling that class.
    """
    present = set(frame.columns)
    columns = [c for c in columns if c in present]
    if frame.height < 20 or target not in columns:
        return []
    hashes = _row_hashes(frame, columns, False)
    _, inverse, counts = np.unique(hashes, return_inverse=True, return_counts=True)
    copy = counts[inverse] > 1
    extra = int(len(hashes) - len(counts))
    if extra < 5:
        return []
    schema = frame.schema
    continuous = any(schema[c].is_float() and frame[c].n_unique() > 0.5 * frame.height
                     for c in columns if c != target)
    evidence: dict[str, Any] = {"extra_copies": extra, "rows_in_copies": int(copy.sum())}
    if problem_type != "regression":
        y = frame[target].cast(pl.String).to_numpy()
        top = pl.Series(y[copy]).mode().sort()[0]
        in_top = y == top
        table = [[int((copy & in_top).sum()), int((~copy & in_top).sum())],
                 [int((copy & ~in_top).sum()), int((~copy & ~in_top).sum())]]
        p = float(stats.fisher_exact(table, alternative="greater").pvalue)
        evidence |= {"class": str(top), "fisher_p": p}
        concentrated = p < 1e-3
    else:
        concentrated = False
    if not (continuous or concentrated):
        return []
    return [Finding(
        "oversampled_before_split", BLOCKING,
        f"{extra} rows are exact copies of other rows"
        + (f", concentrated in class `{evidence['class']}`" if concentrated else "")
        + ": the table was oversampled (or rows replicated) before the split, so copies of "
        "a row land on both sides and the model is scored on rows it memorised. The honest "
        "estimate keeps one row per copy group; oversample inside the training folds only.",
        evidence)]


def fitted_on_all_rows(train: pl.DataFrame, test: pl.DataFrame,
                       features: Sequence[str]) -> list[Finding]:
    """Numeric features standardised or min-max scaled with statistics of train + test.

    The statistics are exact (mean 0 and sd 1, or min 0 and max 1) on all rows but not
    on the training rows alone: the scaler saw the test rows.
    """
    findings = []
    schema = train.schema
    for name in features:
        if not schema[name].is_numeric() or schema[name] == pl.Boolean:
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
                           config: LeakageConfig, *, code: str = "distribution_shift",
                           against: str = "training rows") -> list[Finding]:
    """Can a classifier tell test rows from ``against`` rows, beyond chance?

    The out-of-fold AUC of a membership classifier is compared with its permutation null
    (the same classifier on shuffled membership labels): a shift is reported when the
    AUC beats every permuted one and exceeds their mean by ``adversarial_effect``. Small
    samples give a wide null, so they cannot raise a false alarm; huge ones need the
    effect size, so a negligible shift does not cry wolf.
    """
    rng = np.random.default_rng(config.seed)
    rows = config.adversarial_rows
    a, b = _sample(train, rows, rng), _sample(test, rows, rng)
    present = set(a.columns) & set(b.columns)
    features = [f for f in features if f in present]
    if a.height < 20 or b.height < 20 or not features:
        return []
    both = pl.concat([a.select(features), b.select(features)], how="vertical_relaxed")
    label = np.r_[np.zeros(a.height), np.ones(b.height)]
    x = build_preprocessor(contract, categorical="ordinal", features=features).fit_transform(both)
    x = np.asarray(x, dtype=np.float64)
    auc, null = _membership_auc(x, label, config)
    null_mean = float(np.mean(null))
    p_value = (1 + int((null >= auc).sum())) / (1 + len(null))
    if auc <= null.max() or auc - null_mean < config.adversarial_effect:
        return []
    with threadpool_limits(limits=1, user_api="openmp"):
        top = _top_shift_columns(x, label, features, contract, config.seed)
    expected = strategy == "time"
    return [Finding(
        code, INFO if expected else WARNING,
        f"A classifier tells the test rows from the {against} with AUC {auc:.2f} (permuted "
        f"null {null_mean:.2f}, p={p_value:.2g}, {a.height}+{b.height} rows): the test set "
        f"comes from a different distribution (most different: {', '.join(top)})."
        + (" Expected to some degree with a time split." if expected else
           f" Its score does not represent the {against}; lockgate reports the estimate "
           "from the rows that do."),
        {"auc": round(auc, 4), "null_mean": round(null_mean, 4), "p_value": p_value,
         "permutations": len(null), "rows": [a.height, b.height], "columns": top},
    )]


def _membership_auc(x: np.ndarray, label: np.ndarray,
                    config: LeakageConfig) -> tuple[float, np.ndarray]:
    model = HistGradientBoostingClassifier(max_iter=20, max_depth=3, random_state=config.seed)
    cv = StratifiedKFold(3, shuffle=True, random_state=config.seed)
    rng = np.random.default_rng(config.seed + 1)
    # one thread: on small samples OpenMP start-up and contention cost more than they save
    with threadpool_limits(limits=1, user_api="openmp"):
        def oof_auc(labels: np.ndarray) -> float:
            cols = _screened(x, labels, config.max_model_columns)
            proba = cross_val_predict(model, x[:, cols], labels, cv=cv,
                                      method="predict_proba")[:, 1]
            return float(roc_auc_score(labels, proba))

        auc = oof_auc(label)
        null = np.array([oof_auc(rng.permutation(label)) for _ in range(config.permutations)])
    return auc, null


def _screened(x: np.ndarray, labels: np.ndarray, limit: int) -> np.ndarray:
    """All columns, or the ``limit`` whose location or spread differs most between the
    two groups (standardised mean difference, log ratio of spreads; O(rows x columns))."""
    if x.shape[1] <= limit:
        return np.arange(x.shape[1])
    one = labels == 1
    a, b = x[~one], x[one]
    sd = np.sqrt((np.nanvar(a, axis=0) + np.nanvar(b, axis=0)) / 2) + 1e-12
    shift = np.abs(np.nanmean(a, axis=0) - np.nanmean(b, axis=0)) / sd
    spread = np.abs(np.log((np.nanstd(a, axis=0) + 1e-12) / (np.nanstd(b, axis=0) + 1e-12)))
    score = np.nan_to_num(np.maximum(shift, spread))
    return np.sort(np.argsort(-score)[:limit])


def _top_shift_columns(x: np.ndarray, label: np.ndarray, features: Sequence[str],
                       contract: ContractLike, seed: int) -> list[str]:
    names = _output_columns(features, contract, x.shape[1])
    cols = _screened(x, label, 200)
    x = np.array(x[:, cols], dtype=np.float64)
    model = HistGradientBoostingClassifier(max_iter=30, max_depth=3, random_state=seed)
    model.fit(x, label)
    gains = []
    base = model.score(x, label)
    rng = np.random.default_rng(seed)
    for j in range(x.shape[1]):  # one column permuted in place, then restored: O(n) each
        kept = x[:, j].copy()
        x[:, j] = rng.permutation(kept)
        gains.append(base - model.score(x, label))
        x[:, j] = kept
    ranked = [names[cols[j]] for j in np.argsort(gains)[::-1]]
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
    schema = frame.schema
    for name in columns:
        col, dtype = pl.col(name), schema[name]
        if normalise and dtype in (pl.String, pl.Categorical, pl.Enum):
            col = col.cast(pl.String).str.to_lowercase().str.strip_chars() \
                .str.replace_all(r"\s+", " ")
        elif normalise and dtype.is_float():
            col = col.round_sig_figs(6)
        elif dtype in (pl.Categorical, pl.Enum):
            col = col.cast(pl.String)
        exprs.append(col.alias(name))
    return frame.select(exprs).hash_rows(seed=7).to_numpy()


def _positive(y: np.ndarray) -> Any:
    return sorted(np.unique(y))[-1]
