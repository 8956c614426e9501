"""Audit a workflow someone already has: their estimator, pipeline or fitted search, their
table, their claimed score. lockgate looks for every leakage class it can see (in the
data, in the workflow object, in how the score was obtained, in the table's lineage),
neutralises what it found, re-estimates honestly and puts the two numbers side by side.

The honest estimate is repeated cross-validation shaped by the data's structure (time
order, declared or detected groups, near-duplicate clusters), with the user's search
re-run inside every outer fold (nested), label-aware preprocessing refit per fold, and a
bootstrap interval over the out-of-fold predictions. Blocked columns are replaced by a
constant (the workflow keeps its schema, the column keeps no information); copies made
by oversampling keep one row; a test set that does not represent the training pool or
the deployment sample is not used. When no honest score can exist (features selected on
all rows before lockgate saw the table) the report says so instead of giving a number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import polars as pl
from scipy import stats
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import (
    GroupKFold,
    KFold,
    StratifiedGroupKFold,
    StratifiedKFold,
    TimeSeriesSplit,
)
from sklearn.model_selection._search import BaseSearchCV
from sklearn.pipeline import Pipeline

from lockgate.config import Settings
from lockgate.errors import LockgateError
from lockgate.modeling import leakage as lk
from lockgate.modeling.errors import AuditError
from lockgate.modeling.evaluation import (
    LOWER_IS_BETTER,
    METRICS,
    Predictions,
    bootstrap_weights,
    encode_classes,
    metric_values,
    problem_type_of,
)
from lockgate.modeling.features import ContractLike
from lockgate.modeling.leakage import BLOCKING, INFO, WARNING, Finding, LeakageConfig
from lockgate.modeling.near_duplicates import near_duplicates
from lockgate.modeling.splitter import _entity_hint, _time_hint, as_polars
from lockgate.modeling.timestamps import parse_time
from lockgate.user_types import Estimator, FrameLike, Splitter

PriorStep = Literal["scaling", "imputation", "label_imputation", "target_encoding",
                    "feature_selection", "oversampling"]
PRIOR_STEPS: tuple[str, ...] = get_args(PriorStep)
Verdict = Literal["inflated", "consistent", "no_honest_score", "no_claim"]
_DEFAULT_METRIC = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}


@dataclass(frozen=True, slots=True)
class Preprocessed:
    """A step the user already applied to the whole table before lockgate saw it."""

    step: PriorStep
    columns: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Preprocessed:
        """``"target_encoding:city,zip"`` or ``"feature_selection"``."""
        step, _, cols = text.partition(":")
        if step not in PRIOR_STEPS:
            raise AuditError(f"preprocessing step {step!r}: choose one of {list(PRIOR_STEPS)} "
                             "(optionally `step:col1,col2`).")
        return cls(step, tuple(c.strip() for c in cols.split(",") if c.strip()))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class AuditConfig:
    """Fold and replicate counts (a budget knob can scale them) and the check settings."""

    n_splits: int = 5
    repeats: int = 3
    inner_splits: int = 3
    bootstrap: int = 200
    leakage: LeakageConfig = field(default_factory=LeakageConfig)
    seed: int = 0


@dataclass(frozen=True, slots=True)
class Estimate:
    """An honest score with its 95% interval and the size of the evidence behind it."""

    metric: str
    value: float
    low: float
    high: float
    rows: int
    groups: int | None
    folds: int
    repeats: int
    protocol: str

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class AuditReport:
    """Findings, the claimed score and the honest one, side by side."""

    metric: str
    claimed: float | None
    claimed_source: str
    honest: Estimate | None
    findings: tuple[Finding, ...]
    excluded_columns: tuple[str, ...] = ()
    dropped_rows: int = 0
    structure: str = "iid"
    no_honest_reason: str | None = None

    @property
    def verdict(self) -> Verdict:
        if self.honest is None:
            return "no_honest_score"
        if self.claimed is None:
            return "no_claim"
        # the same test as the `claimed_score_not_reproduced` finding (the claim's own
        # noise allowed for)
        inflated = any(f.code == "claimed_score_not_reproduced" for f in self.findings)
        return "inflated" if inflated else "consistent"

    @property
    def reported(self) -> float | None:
        """The score lockgate stands behind (None when no honest score exists)."""
        return None if self.honest is None else self.honest.value

    @property
    def leak_free(self) -> bool:
        return lk.is_leak_free(self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "claimed": self.claimed,
                "claimed_source": self.claimed_source, "verdict": self.verdict,
                "honest": None if self.honest is None else self.honest.to_dict(),
                "findings": [f.to_dict() for f in self.findings],
                "excluded_columns": list(self.excluded_columns),
                "dropped_rows": self.dropped_rows, "structure": self.structure,
                "no_honest_reason": self.no_honest_reason}


@dataclass(frozen=True, slots=True)
class _Column:
    name: str
    type: str
    available: str = "at_prediction"


@dataclass(frozen=True, slots=True)
class _Roles:
    """The ContractLike the leakage checks read, built from the frame and the options."""

    table: str
    columns: tuple[_Column, ...]
    target: str
    event_time: str | None = None
    entity: str | None = None
    primary_key: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    vouched: tuple[str, ...] = ()

    @property
    def feature_columns(self) -> list[str]:
        return list(self.features)


@dataclass(slots=True)
class _State:
    """What the audit learns as it goes and the honest estimate needs."""

    df: pl.DataFrame
    roles: _Roles
    problem: str
    metric: str
    findings: list[Finding] = field(default_factory=list)
    time: np.ndarray | None = None      # parsed event times (int64 microseconds)
    groups: np.ndarray | None = None
    structure: str = "iid"
    test_rows: np.ndarray | None = None
    use_test: bool = True
    no_honest: str | None = None
    unimpute: dict[str, list[float]] = field(default_factory=dict)
    dedupe: bool = False


def audit(workflow: Estimator, data: FrameLike | str | None = None, *, target: str,
          train: FrameLike | None = None, test: FrameLike | None = None,
          claimed: float | None = None, metric: str | None = None,
          cv: Splitter | None = None, reference: FrameLike | None = None,
          preprocessed: Sequence[Preprocessed | str] = (), contract: ContractLike | None = None,
          features: Sequence[str] | None = None, time: str | None = None,
          groups: str | None = None, availability: Mapping[str, str] | None = None,
          config: AuditConfig | None = None, settings: Settings | None = None) -> AuditReport:
    """Audit a scikit-learn workflow on its data; return findings and the honest score.

    Args:
        workflow: an estimator, a pipeline or a search (``GridSearchCV`` ...), fitted or
            not; it is cloned, never refitted in place.
        data: the table: a Polars/pandas frame, or ``"table@v3"`` (read from lockgate,
            and its lineage checked for steps that read the whole table upstream).
        target: the label column.
        train, test: the user's own split, instead of (or besides) ``data``.
        claimed: the score the user would report (default: a fitted search's
            ``best_score_``), in ``metric``.
        metric: roc_auc / accuracy / r2 / rmse ... (default by problem type).
        cv: the user's own splitter; checked against the data's structure.
        reference: an unlabeled sample of the rows met in deployment.
        preprocessed: steps already applied to all rows (``"target_encoding:city"``).
        contract: a lockgate contract for roles and column availability.
        features: the columns the workflow consumes (default: all but the target and
            the structure columns).
        time, groups: the event-time and entity columns, when known.
        availability: per column, ``at_prediction`` / ``after_outcome`` / an offset.
        config: fold and replicate counts, check settings.
        settings: lockgate settings (for ``"table@vN"`` data).
    """
    config = config or AuditConfig()
    frame, test_rows, lineage = _load(data, train, test, settings)
    state = _state(frame, target, metric, contract, features, time, groups, availability,
                   test_rows)
    state.findings += lineage
    if any(f.code == "feature_selection_upstream" for f in lineage):
        state.no_honest = ("the table's columns were selected upstream by a run that read "
                           "every row of the table it came from")
    steps = [p if isinstance(p, Preprocessed) else Preprocessed.parse(p) for p in preprocessed]
    _declared_steps(state, steps)
    claimed, source = _claim(state, workflow, claimed)
    _structure(state, cv, config)
    _data_checks(state, config)
    if test_rows is not None:
        _pair_checks(state, reference, config)
        _spectrum(state, workflow, reference, config)
    excluded = tuple(dict.fromkeys(lk.blocked_columns(state.findings)
                                   + [c for s in steps if s.step == "target_encoding"
                                      for c in s.columns]))
    honest, dropped = (None, 0) if state.no_honest else _honest(state, workflow, excluded,
                                                                 config)
    findings = _compare(state, claimed, source, honest)
    order = {s: i for i, s in enumerate(lk.SEVERITIES)}
    return AuditReport(state.metric, claimed, source, honest,
                       tuple(sorted(findings, key=lambda f: order[f.severity])), excluded,
                       dropped, state.structure, state.no_honest)


# -- loading and roles ---------------------------------------------------------------


def _load(data: Any, train: Any, test: Any,
          settings: Any) -> tuple[pl.DataFrame, np.ndarray | None, list[Finding]]:
    lineage: list[Finding] = []
    if isinstance(data, str):
        data, lineage = _read_table(data, settings)
    if train is not None and test is not None:
        a, b = as_polars(train), as_polars(test)
        both = pl.concat([a, b], how="vertical_relaxed")
        return both, np.arange(a.height, both.height), lineage
    if data is None:
        if train is None:
            raise AuditError("Give the data (a frame or `table@vN`) or train= and test=.")
        data = train
    return as_polars(data), None, lineage


def _read_table(ref: str, settings: Any) -> tuple[pl.DataFrame, list[Finding]]:
    from lockgate.config import load_settings
    from lockgate.data.tables import parse_table_ref
    from lockgate.data.training_gate import read_for_training
    from lockgate.store import Store

    settings = settings or load_settings()
    table, version = parse_table_ref(ref)
    frame = read_for_training(table, version, settings=settings,
                              allow_unvalidated="audit: read-only re-evaluation")
    store = Store.open(settings)
    found = store.dataset_version(table, version)
    return frame, _lineage_findings(store, found, frame, settings)


def _lineage_findings(store: Any, found: Any, frame: pl.DataFrame,
                      settings: Any) -> list[Finding]:
    """A table produced by a run that read another whole table: any statistic that run
    fitted (scaling, encoding, selection) saw the rows lockgate will test on."""
    upstream = _upstream_versions(store, found.id)
    findings = []
    for version in upstream:
        if version.id == found.id:
            continue
        columns = _columns_of(store, version, settings)
        dropped = sorted(set(columns) - set(frame.columns))
        selection = bool(dropped) and bool(set(frame.columns) & set(columns))
        findings.append(Finding(
            "feature_selection_upstream" if selection else "preprocessing_upstream",
            BLOCKING if selection else WARNING,
            f"`{found.table_name}@v{found.version}` was produced by a run that read all of "
            f"`{version.ref}`" + (f" and kept {len(frame.columns)} of its "
                                 f"{len(columns)} columns (dropped {dropped[:5]}): columns were"
                                 " selected with every row, test rows included. No honest "
                                 "score exists without the unselected table; audit "
                                 f"`{version.ref}` with the selection inside the workflow."
                                 if selection else
                                 ": anything it fitted (scaling, encoding, imputation) saw "
                                 "the test rows. Move fitted steps into the workflow."),
            {"upstream": version.ref, "dropped_columns": dropped[:20]}))
    return findings


def _upstream_versions(store: Any, version_id: int, depth: int = 3) -> list[Any]:
    runs = {e.run_id for e in store.lineage(dataset_version_id=version_id)
            if e.direction == "produced"}
    found: list[Any] = []
    seen: set[Any] = set()
    for _ in range(depth):
        nxt: set[str] = set()
        for run_id in runs - seen:
            seen.add(run_id)
            for edge in store.lineage(run_id=run_id):
                if edge.direction != "consumed":
                    continue
                if edge.dataset_version_id is not None and edge.dataset_version_id != version_id:
                    found.append(store.dataset_version_by_id(edge.dataset_version_id))
                elif edge.artifact_id is not None:
                    nxt |= {e.run_id for e in store.lineage(artifact_id=edge.artifact_id)
                            if e.direction == "produced"}
        runs = nxt
    return list({v.id: v for v in found}.values())


def _columns_of(store: Any, version: Any, settings: Any) -> list[str]:
    from lockgate.data import contract_for

    try:
        return contract_for(version.table_name, version.version, settings=settings).column_names
    except LockgateError:
        return []


def _state(frame: pl.DataFrame, target: str, metric: str | None, contract: Any,
           features: Sequence[str] | None, time: str | None, groups: str | None,
           availability: Mapping[str, str] | None, test_rows: np.ndarray | None) -> _State:
    if target not in frame.columns:
        raise AuditError(f"target `{target}` is not a column; columns are {frame.columns}.")
    frame = frame.filter(pl.col(target).is_not_null())
    problem = problem_type_of(frame[target])
    metric = metric or _DEFAULT_METRIC[problem]
    if metric not in METRICS[problem]:
        raise AuditError(f"metric={metric!r}: for a {problem} problem choose one of "
                         f"{list(METRICS[problem])}.")
    declared = {c.name: getattr(c, "available", "at_prediction")
                for c in getattr(contract, "columns", ())}
    declared |= dict(availability or {})
    time = time or getattr(contract, "event_time", None)
    groups = groups or getattr(contract, "entity", None)
    structural = {target, time, groups}
    names = list(features) if features is not None else [
        c for c in frame.columns if c not in structural]
    columns = tuple(_Column(c, _type_of(frame.schema[c]), declared.get(c, "at_prediction"))
                    for c in frame.columns)
    roles = _Roles("audit", columns, target, None, None, (), tuple(names),
                   tuple(c for c, a in (availability or {}).items() if a == "at_prediction"))
    state = _State(frame, roles, problem, metric, test_rows=test_rows)
    state.findings += lk.declared_after_outcome(roles, names)
    if time:
        _use_time(state, time, declared=True)
    if groups:
        state.groups = frame[groups].cast(pl.String).fill_null("").to_numpy()
        state.structure = f"grouped by `{groups}` (declared)"
    return state


def _type_of(dtype: pl.DataType) -> str:
    if dtype == pl.Boolean:
        return "bool"
    if dtype.is_integer():
        return "int"
    if dtype.is_numeric():
        return "float"
    if dtype == pl.Date:
        return "date"
    if dtype.is_temporal():
        return "datetime"
    return "string"


# -- what the user says, what the workflow shows -------------------------------------------


def _declared_steps(state: _State, steps: Sequence[Preprocessed]) -> None:
    for step in steps:
        if step.step == "feature_selection":
            state.no_honest = ("features were selected on all rows before lockgate saw the "
                               "table; the unselected columns are needed to re-select inside "
                               "each fold")
            state.findings.append(Finding(
                "feature_selection_outside_cv", BLOCKING,
                "Features were selected using every row (declared): the selection saw the "
                "test labels, so any score of this table is optimistic and no honest score "
                "can be computed from it. Audit the table before selection, with the "
                "selector inside the workflow.", {"declared": True}))
        elif step.step == "oversampling":
            state.dedupe = True
            state.findings.append(Finding(
                "oversampled_before_split", BLOCKING,
                "The table was oversampled before the split (declared): copies straddle the "
                "folds. The honest estimate keeps one row per copy group.", {"declared": True}))
        elif step.step in ("label_imputation", "target_encoding"):
            state.findings.append(Finding(
                "label_aware_preprocessing_outside_cv", BLOCKING,
                f"{step.step.replace('_', ' ')} used the label on all rows (declared) for "
                f"{list(step.columns) or 'unnamed columns'}: those columns are excluded from "
                "the honest estimate; fit the step inside the workflow.",
                {"declared": True, "step": step.step, "columns": list(step.columns)}))
            if not step.columns:
                state.no_honest = f"{step.step} on all rows, with no columns named"
        else:
            state.findings.append(Finding(
                "preprocessing_outside_cv", WARNING,
                f"{step.step} was fitted on all rows (declared): the test rows shaped the "
                "features; usually a small effect for unsupervised steps. Move it into the "
                "workflow.", {"declared": True, "step": step.step}))


def _claim(state: _State, workflow: Any, claimed: float | None) -> tuple[float | None, str]:
    best = getattr(workflow, "best_score_", None)
    if not isinstance(workflow, BaseSearchCV):  # a fitted search's steps are fitted by it
        state.findings += [f for f in lk.prefitted_steps(workflow)
                           if f.code == "feature_selection_outside_cv"]
    if best is None:
        return claimed, "given" if claimed is not None else "none"
    best = float(best)
    if claimed is None or abs(claimed - best) < 1e-9:
        state.findings.append(Finding(
            "tuned_search_best_score", BLOCKING,
            f"The claimed score ({best:.4f}) is the search's best cross-validated score: the "
            "folds that scored it also chose the hyperparameters, so it is the maximum of "
            "many noisy estimates and is biased upward (no held-out data). The honest "
            "estimate re-runs the search inside each outer fold.",
            {"best_score": best, "candidates": len(getattr(workflow, "cv_results_", {})
                                                   .get("params", []))}))
        return best, "the search's best CV score" if claimed is None else "given"
    return claimed, "given"


# -- structure --------------------------------------------------------------------------


def _use_time(state: _State, column: str, *, declared: bool, how: str = "") -> None:
    parsed = parse_time(state.df[column])
    if parsed is None:
        raise AuditError(f"time column `{column}` holds no readable timestamps.")
    state.time = parsed.values.cast(pl.Int64).fill_null(strategy="min").to_numpy()
    state.structure = (f"time-ordered by `{column}` ("
                       + ("declared" if declared else f"detected: {how}") + ")")


def _replace_features(roles: _Roles, features: Sequence[str]) -> _Roles:
    return _Roles(roles.table, roles.columns, roles.target, roles.event_time, roles.entity,
                  roles.primary_key, tuple(features), roles.vouched)


def _structure(state: _State, cv: Any, config: AuditConfig) -> None:
    df, target = state.df, state.roles.target
    y = _numeric_y(df[target])
    if state.time is None and state.groups is None:
        for name in state.roles.features:
            parsed = parse_time(df[name]) if len(df) >= 30 else None
            if parsed is None:
                continue
            hint = _time_hint(df.with_columns(parsed.values.alias(name)), name, y)
            if hint is not None:
                state.findings.append(Finding(
                    "undeclared_time", WARNING,
                    f"{parsed.described} holds timestamps and {hint.evidence}: rows are "
                    "ordered in time, so a random split trains on the future. The honest "
                    f"estimate uses time-ordered folds along it (and does not feed the raw "
                    "timestamp to the model). Declare it as the event time.",
                    {"column": name, "how": parsed.how, "evidence": hint.evidence}))
                _use_time(state, name, declared=False, how=parsed.described)
                state.roles = _replace_features(
                    state.roles, [f for f in state.roles.features if f != name])
                break
    if state.time is None and state.groups is None:
        _entity_or_copies(state)
    if cv is not None:
        _check_cv(state, cv)


def _entity_or_copies(state: _State) -> None:
    df = state.df
    for name in state.roles.features:
        if df.schema[name] not in (pl.String, pl.Categorical) and not (
                df.schema[name].is_integer() and _entity_name(name)):
            continue
        hint = _entity_hint(df, name, df.height)
        if hint is not None:
            state.groups = df[name].cast(pl.String).fill_null("").to_numpy()
            state.structure = f"grouped by `{name}` (detected)"
            state.findings.append(Finding(
                "undeclared_entity", WARNING,
                f"{hint.evidence}: rows of one entity are not independent. The honest "
                "estimate keeps each entity on one side of every split; declare it.",
                {"column": name}))
            state.roles = _replace_features(state.roles,
                                            [f for f in state.roles.features if f != name])
            return
    x, _ = lk.numeric_matrix(df, [f for f in state.roles.features
                                  if df.schema[f].is_float()])
    near = near_duplicates(x) if x.shape[1] >= 2 else None
    if near is None or not near.significant:
        return
    state.groups = near.groups.astype(str)
    state.structure = f"grouped by {near.clusters} near-duplicate clusters (detected)"
    state.findings.append(Finding(
        "near_duplicate_rows", BLOCKING,
        f"{near.flagged} of {near.rows} rows have a neighbour far closer than chance allows "
        f"(expected {near.expected:.1f}, binomial p={near.p_value:.1e}; intrinsic dimension "
        f"{near.dimension:.1f}): repeated measurements of the same entities or copies, in "
        f"{near.clusters} clusters. A random split scores the model on rows it has nearly "
        "seen; the honest estimate keeps each cluster on one side. Add an entity id.",
        {"rows": near.flagged, "clusters": near.clusters, "p_value": near.p_value}))


def _entity_name(name: str) -> bool:
    from lockgate.modeling.splitter import _ID_NAME

    return bool(_ID_NAME.search(name))


def _check_cv(state: _State, cv: Any) -> None:
    structured = state.time is not None or state.groups is not None
    iid = isinstance(cv, int) or type(cv).__name__ in (
        "KFold", "StratifiedKFold", "RepeatedKFold", "RepeatedStratifiedKFold",
        "ShuffleSplit", "StratifiedShuffleSplit")
    if structured and iid:
        state.findings.append(Finding(
            "cv_ignores_structure", BLOCKING,
            f"The workflow's splitter ({cv if isinstance(cv, int) else type(cv).__name__}) "
            f"splits rows at random, but the data is {state.structure}: its folds mix the "
            "same entity or period into train and test. The honest estimate uses a "
            "structure-aware splitter.", {"cv": repr(cv), "structure": state.structure}))


def _numeric_y(series: pl.Series) -> np.ndarray:
    if series.dtype.is_numeric():
        return series.cast(pl.Float64).to_numpy()
    top = series.cast(pl.String).mode().sort()[0]
    return (series.cast(pl.String) == top).cast(pl.Float64).to_numpy()


# -- data checks ----------------------------------------------------------------------


def _data_checks(state: _State, config: AuditConfig) -> None:
    df, roles, target = state.df, state.roles, state.roles.target
    features = list(roles.features)
    state.findings += lk.target_encoded(df, features, target, state.problem)
    imputed = lk.label_imputed(df, features, target, state.problem)
    state.findings += imputed
    state.unimpute = {f.evidence["column"]: f.evidence["fill_values"] for f in imputed}
    copies = lk.oversampled(df, [*features, target], target, state.problem)
    if copies and not state.dedupe:
        state.findings += copies
        state.dedupe = True
    blocked = set(lk.blocked_columns(state.findings))
    state.findings += lk.target_proxies(df, None, [f for f in features if f not in blocked],
                                        target, state.problem, config.leakage,
                                        exempt=roles.vouched)


def _pair_checks(state: _State, reference: Any, config: AuditConfig) -> None:
    if state.test_rows is None:  # the caller runs the pair checks only with test rows
        return
    rows = np.arange(state.df.height)
    test_mask = np.isin(rows, state.test_rows)
    train, test = state.df.filter(pl.Series(~test_mask)), state.df.filter(pl.Series(test_mask))
    features = list(state.roles.features)
    found = lk.duplicate_rows(train, test, [*features, state.roles.target])
    found += lk.fitted_on_all_rows(train, test, features)
    if state.time is not None:
        latest = state.time[~test_mask].max()
        early = int((state.time[test_mask] < latest).sum())
        if early:
            found.append(Finding(
                "time_overlap", BLOCKING,
                f"{early} of the user's test rows are earlier than the latest training row: "
                "training saw the future of those rows.", {"test_rows_before_train_end": early}))
    strategy = "time" if state.time is not None else None
    found += lk.adversarial_validation(train, test, state.roles, features, strategy,
                                       config.leakage)
    if reference is not None:
        found += lk.adversarial_validation(
            as_polars(reference), test, state.roles, features, None, config.leakage,
            code="test_not_like_deployment", against="deployment reference sample")
    state.findings += found
    if any(f.code in ("distribution_shift", "test_not_like_deployment", "spectrum_bias")
           and f.severity == WARNING for f in found):
        state.use_test = False


def _spectrum(state: _State, workflow: Any, reference: Any, config: AuditConfig) -> None:
    """Spectrum bias: the user's test cases are easier than the training (or deployment)
    cases. The workflow's confidence on the test rows is compared with its out-of-fold
    confidence on the training rows (and on the reference rows) by a Mann-Whitney test;
    a shift needs p < 1e-3 and a confidence AUC of at least 0.6."""
    if state.problem == "regression" or state.test_rows is None:
        return
    features = list(state.roles.features)
    mask = np.isin(np.arange(state.df.height), state.test_rows)
    train, test = state.df.filter(pl.Series(~mask)), state.df.filter(pl.Series(mask))
    x_train, y_train = train.select(features).to_pandas(), train[state.roles.target].to_numpy()
    cv = StratifiedKFold(config.n_splits, shuffle=True, random_state=config.seed)
    try:
        from sklearn.model_selection import cross_val_predict

        oof = cross_val_predict(clone(workflow), x_train, y_train, cv=cv, method="predict_proba")
        fitted = clone(workflow).fit(x_train, y_train)
    except ValueError:
        return
    against = [("training rows", oof.max(axis=1), "spectrum_bias")]
    if reference is not None:
        ref = as_polars(reference)
        if all(f in ref.columns for f in features):
            against.append(("deployment reference sample", fitted.predict_proba(
                ref.select(features).to_pandas()).max(axis=1), "test_not_like_deployment"))
    confident = fitted.predict_proba(test.select(features).to_pandas()).max(axis=1)
    for name, base, code in against:
        result = stats.mannwhitneyu(confident, base, alternative="greater")
        auc = float(result.statistic) / (len(confident) * len(base))
        if result.pvalue < 1e-3 and auc >= 0.6:
            state.use_test = False
            state.findings.append(Finding(
                code, WARNING,
                f"The test rows are easier than the {name}: the model is more confident on "
                f"them (confidence AUC {auc:.2f}, Mann-Whitney p={result.pvalue:.1e}, "
                f"{len(confident)} vs {len(base)} rows), the mark of a test set that kept "
                "only clear-cut cases (spectrum bias). Its score does not represent "
                f"the {name}; lockgate reports the estimate from the training rows.",
                {"confidence_auc": round(auc, 4), "p_value": float(result.pvalue),
                 "rows": [len(confident), len(base)]}))


# -- the honest estimate -----------------------------------------------------------------


def _honest(state: _State, workflow: Any, excluded: Sequence[str],
            config: AuditConfig) -> tuple[Estimate | None, int]:
    df, keep = state.df, np.ones(state.df.height, dtype=bool)
    if state.test_rows is not None and not state.use_test:
        keep[state.test_rows] = False
    features = list(state.roles.features)
    if state.dedupe:
        hashes = lk._row_hashes(df, [*features, state.roles.target], False)
        keep &= _first_of_each(hashes)
    if not features or all(f in excluded for f in features):
        state.no_honest = "every feature is blocked"
        return None, 0
    rows = np.flatnonzero(keep)
    table = _neutralised(df[rows], features, excluded, state.unimpute)
    model = _with_fold_imputer(workflow, list(state.unimpute))
    x = table.to_pandas() if _needs_frame(model, table) else _Rows(table.to_numpy())
    y = df[state.roles.target].to_numpy()[rows]
    if state.problem == "regression":
        y = y.astype(np.float64)
    time = None if state.time is None else state.time[rows]
    groups = None if state.groups is None else state.groups[rows]
    preds, folds, repeats, protocol = _cross_validate(model, x, y, state.problem, time, groups,
                                                      config)
    metric = state.metric
    values, lows, highs = [], [], []
    for pred in preds:
        weights = bootstrap_weights(len(pred.y_true), config.bootstrap, config.seed)
        boot = metric_values(pred, weights)[metric]
        values.append(float(metric_values(pred)[metric][0]))
        lows.append(float(np.nanquantile(boot, 0.025)))
        highs.append(float(np.nanquantile(boot, 0.975)))
    n_groups = None if groups is None else int(np.unique(groups).size)
    nested = " with the search nested" if isinstance(workflow, BaseSearchCV) else ""
    return Estimate(metric, float(np.mean(values)), float(np.mean(lows)),
                    float(np.mean(highs)), len(rows), n_groups, folds, repeats,
                    protocol + nested), int(state.df.height - len(rows))


class _Rows:
    """A numpy matrix with pandas' ``iloc`` (scikit-learn validates numpy far faster than
    a DataFrame, which matters in a nested search of small fits)."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    @property
    def iloc(self) -> _Rows:
        return self

    def __getitem__(self, rows: Any) -> np.ndarray:
        return self.values[rows]

    def __len__(self) -> int:
        return len(self.values)


def _needs_frame(workflow: Any, x: pl.DataFrame) -> bool:
    """Whether the workflow reads columns by name or takes non-numeric columns."""
    if not all(d.is_numeric() or d == pl.Boolean for d in x.schema.values()):
        return True
    params = workflow.get_params(deep=True).values() if hasattr(workflow, "get_params") else ()
    fitted = getattr(workflow, "best_estimator_", workflow)
    return any(isinstance(v, ColumnTransformer) for v in params) or hasattr(
        fitted, "feature_names_in_")


def _first_of_each(hashes: np.ndarray) -> np.ndarray:
    _, first = np.unique(hashes, return_index=True)
    keep = np.zeros(len(hashes), dtype=bool)
    keep[first] = True
    return keep


def _neutralised(df: pl.DataFrame, features: Sequence[str], excluded: Sequence[str],
                 unimpute: Mapping[str, list[float]]) -> pl.DataFrame:
    """Blocked columns set to one constant (no information left, schema kept); label-aware
    fill values turned back into missing values."""
    exprs = []
    for name in features:
        col = pl.col(name)
        if name in excluded:
            value = df[name].drop_nulls().head(1)
            col = pl.lit(value[0] if value.len() else None, dtype=df.schema[name]).alias(name)
        elif name in unimpute:
            col = pl.when(col.is_in(unimpute[name])).then(None).otherwise(col).alias(name)
        exprs.append(col)
    return df.select(exprs)


def _with_fold_imputer(workflow: Any, columns: Sequence[str]) -> Any:
    model = clone(workflow)
    if not columns:
        return model
    impute = ColumnTransformer([("impute_in_folds", SimpleImputer(strategy="median"),
                                 list(columns))], remainder="passthrough",
                               verbose_feature_names_out=False).set_output(transform="pandas")
    return Pipeline([("impute_in_folds", impute), ("workflow", model)])


def _cross_validate(model: Any, x: Any, y: np.ndarray, problem: str, time: np.ndarray | None,
                    groups: np.ndarray | None,
                    config: AuditConfig) -> tuple[list[Predictions], int, int, str]:
    k = config.n_splits
    if time is not None:
        order = np.argsort(time, kind="stable")
        splits = [[(order[tr], order[te]) for tr, te in TimeSeriesSplit(k).split(order)]]
        protocol = f"time-ordered expanding-window CV ({k} folds)"
    else:
        blank = np.zeros(len(y))
        splits = [list(_splitter(problem, groups, k, config.seed + r).split(blank, y, groups))
                  for r in range(config.repeats)]
        kind = "grouped " if groups is not None else ""
        protocol = f"repeated {kind}{k}-fold CV (x{config.repeats})"
    classes = np.unique(y) if problem != "regression" else np.array([])
    preds = [_oof(model, x, y, problem, folds, groups, time, classes, config)
             for folds in splits]
    return preds, k, len(splits), protocol


def _splitter(problem: str, groups: np.ndarray | None, k: int, seed: int) -> Any:
    if groups is not None:
        return (GroupKFold(k) if problem == "regression"
                else StratifiedGroupKFold(k, shuffle=True, random_state=seed))
    if problem == "regression":
        return KFold(k, shuffle=True, random_state=seed)
    return StratifiedKFold(k, shuffle=True, random_state=seed)


def _oof(model: Any, x: Any, y: np.ndarray, problem: str, folds: list, groups: Any,
         time: Any, classes: np.ndarray, config: AuditConfig) -> Predictions:
    tested = np.concatenate([te for _, te in folds])
    truth, scores = [], []
    for tr, te in folds:
        fitted = _fit(model, x.iloc[tr], y[tr], None if groups is None else groups[tr],
                      time is not None, config)
        if problem == "regression":
            scores.append(np.asarray(fitted.predict(x.iloc[te]), dtype=np.float64))
        else:
            proba = np.zeros((len(te), len(classes)))
            got = np.asarray(fitted.predict_proba(x.iloc[te]), dtype=np.float64)
            cols = np.searchsorted(classes, np.asarray(fitted.classes_))
            proba[:, cols] = got
            scores.append(proba)
        truth.append(y[te])
    y_true = np.concatenate(truth)
    if problem == "regression":
        return Predictions(problem, y_true.astype(np.float64), np.concatenate(scores))
    proba = np.vstack(scores)
    del tested
    return Predictions(problem, encode_classes(y_true, tuple(classes)), proba.argmax(axis=1),
                       proba, tuple(classes))


def _fit(model: Any, x: Any, y: np.ndarray, groups: np.ndarray | None, timed: bool,
         config: AuditConfig) -> Any:
    model = clone(model)
    search = model if isinstance(model, BaseSearchCV) else (
        model.steps[-1][1] if isinstance(model, Pipeline)
        and isinstance(model.steps[-1][1], BaseSearchCV) else None)
    if search is not None and timed:
        search.set_params(cv=TimeSeriesSplit(config.inner_splits))
    elif search is not None and groups is not None:
        inner = GroupKFold(config.inner_splits).split(np.zeros(len(y)), y, groups)
        search.set_params(cv=list(inner))
    return model.fit(x, y)


def _compare(state: _State, claimed: float | None, source: str,
             honest: Estimate | None) -> list[Finding]:
    findings = list(state.findings)
    if honest is not None and claimed is not None:
        # the claim is itself an estimate of similar precision: the gap between two
        # such estimates has sqrt(2) times the interval's half-width
        lower = state.metric in LOWER_IS_BETTER
        reach = (honest.value - honest.low if lower else honest.high - honest.value) * 2 ** 0.5
        above = claimed < honest.value - reach if lower else claimed > honest.value + reach
        if above:
            findings.append(Finding(
                "claimed_score_not_reproduced", WARNING,
                f"The claimed {state.metric} {claimed:.4f} ({source}) is outside the honest "
                f"estimate's 95% interval {honest.value:.4f} [{honest.low:.4f}, "
                f"{honest.high:.4f}] ({honest.protocol}, {honest.rows} rows): report the "
                "honest one.", {"claimed": claimed, "honest": honest.value,
                                "gap": round(claimed - honest.value, 4)}))
    if honest is not None and honest.rows < 200:
        findings.append(Finding(
            "small_evidence", INFO,
            f"The honest estimate rests on {honest.rows} rows: its interval "
            f"[{honest.low:.3f}, {honest.high:.3f}] is wide; more data narrows it.",
            {"rows": honest.rows}))
    return findings
