"""Root cause of an alert: which inputs moved and matter, where performance fell,
and which upstream data versions they came from.

Three kinds of evidence, combined into one plain-language summary:

* features ranked by drift weighted by the model's importance (the permutation
  importance its package carries or its evaluation records, else the estimator's
  ``feature_importances_`` / ``coef_`` mapped back to input columns, else equal weights,
  which the summary then says), drifted features first;
* the slices (categories, quartiles of numeric inputs) where live performance fell most
  below the evaluation, on the labels that have arrived;
* the training dataset version and the versions ingested since, with their validation
  status and quarantine reasons, found through the model's lineage.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, cast

import numpy as np
import polars as pl

from lockgate.data.check_result import failed_checks
from lockgate.errors import NotFoundError
from lockgate.monitoring.performance import label_strings
from lockgate.monitoring.watched_model import WatchedModel
from lockgate.store import DatasetVersion, Store

MIN_SLICE_ROWS = 20
#: What a root cause's feature weights are: permutation importance on the holdout, the
#: estimator's own importances, or none known (equal weights: ranked by drift alone).
ImportanceBasis = Literal["permutation", "estimator", "none"]


@dataclass(frozen=True, slots=True)
class FeatureCause:
    """One input feature's drift, importance and combined score."""

    name: str
    psi: float
    drifted: bool
    importance: float
    score: float


@dataclass(frozen=True, slots=True)
class SliceDrop:
    """A slice of live traffic and how far its performance fell below the reference."""

    feature: str
    slice: str
    rows: int
    metric: str
    live: float
    reference: float
    drop: float


@dataclass(frozen=True, slots=True)
class UpstreamVersion:
    """A dataset version upstream of the model, with its quality results."""

    ref: str
    version: int
    validation_status: str
    rows_ingested: int
    quarantined_share: float
    reasons: dict[str, int]
    failed_checks: list[str]
    trained_on: bool


@dataclass(frozen=True, slots=True)
class RootCause:
    """The evidence for one alert and its summary."""

    features: list[FeatureCause] = field(default_factory=list)
    slices: list[SliceDrop] = field(default_factory=list)
    upstream: list[UpstreamVersion] = field(default_factory=list)
    summary: str = ""
    importance: ImportanceBasis = "none"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, stored with the incident and sent with the alert."""
        return {"features": [asdict(f) for f in self.features],
                "slices": [asdict(s) for s in self.slices],
                "upstream": [asdict(u) for u in self.upstream], "summary": self.summary,
                "importance": self.importance}


@dataclass(frozen=True, slots=True)
class ModelImportance:
    """A model's importance per input feature (sums to 1) and what it is based on."""

    values: dict[str, float]
    basis: ImportanceBasis


def model_importance(model: WatchedModel) -> ModelImportance:
    """Importance per input feature, normalised to sum to 1, with its basis.

    Order of preference: the permutation importance the package carries (every package
    registered since it was added does), the one in the evaluation record, the
    estimator's ``feature_importances_``, ``|coef_|``; equal weights (basis ``none``)
    otherwise.
    """
    features = model.features
    raw = (_evaluation_importance({"importances": (model.importance or {}).get("values")},
                                  features)
           or _evaluation_importance(model.evaluation, features))
    basis: ImportanceBasis = "permutation"
    if not _positive(raw):
        raw, basis = _estimator_importance(model.pipeline, features), "estimator"
    if not _positive(raw):
        return ModelImportance({f: 1.0 / len(features) for f in features}, "none")
    total = sum(max(v, 0.0) for v in raw.values())
    return ModelImportance({f: max(raw.get(f, 0.0), 0.0) / total for f in features}, basis)


def feature_importance(model: WatchedModel) -> dict[str, float]:
    """Importance per input feature, normalised to sum to 1 (see
    :func:`model_importance` for where it comes from; equal weights when unknown)."""
    return model_importance(model).values


def _positive(raw: Mapping[str, float]) -> bool:
    return bool(raw) and sum(max(v, 0.0) for v in raw.values()) > 0


def rank_features(drift_features: Sequence[Mapping[str, Any]], importance: Mapping[str, float]
                  ) -> list[FeatureCause]:
    """Features by drift weighted by importance; drifted features always rank first.

    Why weights relative to the largest importance: the score stays on the PSI scale
    for the most important feature, so scores of different models read alike.
    """
    top = max(importance.values(), default=0.0) or 1.0
    causes = []
    for item in drift_features:
        name = str(item["name"])
        psi = float(item.get("psi") or 0.0)
        weight = importance.get(name, 0.0) / top
        causes.append(FeatureCause(name, psi, bool(item.get("drifted")),
                                   importance.get(name, 0.0), psi * weight))
    return sorted(causes, key=lambda c: (not c.drifted, -c.score, -c.psi, c.name))


def slice_drops(labeled: pl.DataFrame, features: Sequence[str], problem_type: str,
                reference: Mapping[str, Any], *, top: int = 5) -> list[SliceDrop]:
    """The slices of labeled live rows whose performance fell most below the reference.

    Classification compares accuracy with the evaluation's accuracy (else the window's
    overall accuracy); regression compares MAE likewise.
    """
    if labeled.height < MIN_SLICE_ROWS:
        return []
    regression = problem_type == "regression"
    frame = labeled.with_columns(_loss_expr(labeled, regression).alias("__loss"))
    metric = "mae" if regression else "accuracy"
    mean_loss = float(cast(float, frame["__loss"].mean()))
    overall = mean_loss if regression else 1 - mean_loss
    ref = float(reference.get(metric, overall)) if reference else overall
    drops = []
    for feature in features:
        if feature not in frame.columns:
            continue
        for label, part in _slices(frame, feature):
            if part.height < MIN_SLICE_ROWS:
                continue
            mean = float(cast(float, part["__loss"].mean()))
            live = mean if regression else 1 - mean
            drop = live - ref if regression else ref - live
            drops.append(SliceDrop(feature, label, part.height, metric, live, ref, drop))
    drops.sort(key=lambda d: -d.drop)
    return [d for d in drops if d.drop > 0][:top]


def upstream_versions(store: Store, lineage: Mapping[str, Any]) -> list[UpstreamVersion]:
    """The training dataset version and every later version of the same table."""
    table = lineage.get("table")
    trained = lineage.get("dataset_version")
    if not table:
        return []
    try:
        versions = store.dataset_versions(str(table))
    except NotFoundError:
        return []
    out = []
    for dv in versions:
        if trained is not None and dv.version < int(trained):
            continue
        out.append(_upstream(dv, trained_on=trained is not None and dv.version == int(trained)))
    return sorted(out, key=lambda u: u.version)


def analyse(model: WatchedModel, drift_features: Sequence[Mapping[str, Any]], *,
            store: Store, labeled: pl.DataFrame | None = None,
            performance: Mapping[str, Any] | None = None) -> RootCause:
    """Gather the evidence for an alert on ``model`` and write its summary."""
    importance = model_importance(model)
    features = rank_features(drift_features, importance.values)
    slices = []
    if labeled is not None and labeled.height:
        slices = slice_drops(labeled, model.features, model.problem_type,
                             model.evaluation.get("metrics", {}))
    upstream = upstream_versions(store, model.lineage)
    summary = summarise(features, slices, upstream, performance or {}, model,
                        weighted=importance.basis != "none")
    if importance.basis == "none" and features:
        summary += (f" Feature importance is unknown for {model.name}"
                    f"{'' if model.version is None else f' v{model.version}'} (its package "
                    "carries none and its estimator has no importances), so features are "
                    "ranked by drift alone (unweighted); re-register it with holdout rows "
                    "to weight them.")
    return RootCause(features, slices, upstream, summary, importance.basis)


def summarise(features: Sequence[FeatureCause], slices: Sequence[SliceDrop],
              upstream: Sequence[UpstreamVersion], performance: Mapping[str, Any],
              model: WatchedModel, *, weighted: bool = True) -> str:
    """One paragraph a person reads first: what moved, since when, and what it cost
    (an importance only when one is known: equal weights are not a finding)."""
    parts = []
    drifted = [f for f in features if f.drifted]
    for cause in drifted[:3]:
        weight = f", importance {cause.importance:.0%}" if weighted else ""
        parts.append(f"{cause.name} drifted (PSI {cause.psi:.2f}{weight})"
                     f"{_since(cause.name, upstream, model)}")
    if not drifted:
        parts.append("no input feature drifted")
    metrics = performance.get("metrics") or {}
    reference = model.evaluation.get("metrics", {})
    primary = model.evaluation.get("primary_metric")
    ordered = sorted(metrics.items(), key=lambda kv: kv[0] != primary)
    for metric, live in ordered:
        if metric in reference:
            parts.append(f"live {metric} {live:.3f} vs {float(reference[metric]):.3f} at "
                         f"evaluation on {performance.get('n_labeled', 0)} labeled predictions"
                         f"{_delay(performance)}")
            break
    if slices:
        worst = slices[0]
        parts.append(f"worst slice {worst.feature} {worst.slice}: {worst.metric} "
                     f"{worst.live:.3f} vs {worst.reference:.3f} ({worst.rows} rows)")
    return "; ".join(parts) + "."


def _since(feature: str, upstream: Sequence[UpstreamVersion], model: WatchedModel) -> str:
    table = model.lineage.get("table")
    for version in reversed(upstream):
        hits = {code: n for code, n in version.reasons.items() if _mentions(code, feature)}
        if hits and version.rows_ingested:
            code, count = max(hits.items(), key=lambda kv: kv[1])
            return (f" since dataset {table} v{version.version}, which quarantined "
                    f"{count / version.rows_ingested:.0%} of rows for {code} "
                    f"({_quarantine_counts(code, count, version, upstream)})")
    trained = [u for u in upstream if u.trained_on]
    if trained:
        newer = [u for u in upstream if u.version > trained[0].version]
        tail = f"; newest {table} v{newer[-1].version} is {newer[-1].validation_status}" \
            if newer else ""
        return f" against the training data {table} v{trained[0].version}{tail}"
    return ""


def _quarantine_counts(code: str, count: int, version: UpstreamVersion,
                       upstream: Sequence[UpstreamVersion]) -> str:
    """Row counts behind a version's quarantine share, and the same reason's share over
    every version since training, so a share of a tiny batch does not read as a crisis."""
    text = f"{count:,} of {version.rows_ingested:,} rows"
    if len(upstream) < 2:
        return text
    total = sum(u.rows_ingested for u in upstream)
    hits = sum(u.reasons.get(code, 0) for u in upstream)
    share = hits / total if total else 0.0
    return (f"{text}; {hits:,} of {total:,} rows ({share:.1%}) across "
            f"v{upstream[0].version}-v{upstream[-1].version}")


def _mentions(code: str, feature: str) -> bool:
    return code == feature or code.endswith(f":{feature}") or f":{feature}:" in code


def _delay(performance: Mapping[str, Any]) -> str:
    delay = performance.get("delay_p50_s")
    return f" (median label delay {_human_seconds(delay)})" if delay is not None else ""


def _human_seconds(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"


def _upstream(dv: DatasetVersion, *, trained_on: bool) -> UpstreamVersion:
    reasons = {str(k): int(v) for k, v in (dv.details or {}).get("reasons", {}).items()}
    failed = sorted(failed_checks(dv.checks))
    share = dv.rows_quarantined / dv.rows_ingested if dv.rows_ingested else 0.0
    return UpstreamVersion(dv.ref, dv.version, dv.validation_status, dv.rows_ingested, share,
                           reasons, failed, trained_on)


def _loss_expr(frame: pl.DataFrame, regression: bool) -> pl.Expr:
    if regression:
        return (pl.col("prediction").cast(pl.Float64, strict=False)
                - pl.col("label").cast(pl.Float64, strict=False)).abs()
    wrong = label_strings(frame["prediction"]) != label_strings(frame["label"])
    return pl.lit(wrong.cast(pl.Float64))


def _slices(frame: pl.DataFrame, feature: str) -> list[tuple[str, pl.DataFrame]]:
    column = frame[feature]
    if column.dtype.is_numeric() and column.n_unique() > 8:
        values = column.cast(pl.Float64).to_numpy()
        edges = np.unique(np.nanquantile(values, [0.0, 0.25, 0.5, 0.75, 1.0]))
        out = []
        for low, high in itertools.pairwise(edges):
            last = high == edges[-1]
            mask = (column >= low) & ((column <= high) if last else (column < high))
            out.append((f"in [{low:.4g}, {high:.4g}{']' if last else ')'}",
                        frame.filter(mask)))
        return out
    return [(f"= {value}", part) for (value,), part in frame.group_by(feature)]


def _evaluation_importance(evaluation: Mapping[str, Any], features: Sequence[str]
                           ) -> dict[str, float]:
    for key in ("permutation_importance", "feature_importance", "importances"):
        value = evaluation.get(key)
        if isinstance(value, Mapping):
            found = {str(k): _mean(v) for k, v in value.items() if str(k) in features}
            if found:
                return found
        if isinstance(value, list):
            found = {}
            for item in value:
                if isinstance(item, Mapping) and str(item.get("feature")) in features:
                    found[str(item["feature"])] = _mean(
                        item.get("importance", item.get("importance_mean", 0.0)))
            if found:
                return found
    return {}


def _mean(value: Any) -> float:
    if isinstance(value, Mapping):
        value = value.get("mean", value.get("importance_mean", 0.0))
    if isinstance(value, list | tuple):
        return float(np.mean(value)) if value else 0.0
    return float(value or 0.0)


def _estimator_importance(pipeline: Any, features: Sequence[str]) -> dict[str, float]:
    steps = getattr(pipeline, "steps", None)
    estimator = steps[-1][1] if steps else pipeline
    values = getattr(estimator, "feature_importances_", None)
    if values is None and getattr(estimator, "coef_", None) is not None:
        coef = np.abs(np.asarray(estimator.coef_, dtype=float))
        values = coef.mean(axis=0) if coef.ndim == 2 else coef
    if values is None:
        return {}
    names = _transformed_names(pipeline, len(values), features)
    out: dict[str, float] = {}
    for name, value in zip(names, values, strict=False):
        source = _source_feature(name, features)
        if source is not None:
            out[source] = out.get(source, 0.0) + float(value)
    return out


def _transformed_names(pipeline: Any, count: int, features: Sequence[str]) -> list[str]:
    steps = getattr(pipeline, "steps", None)
    if steps and len(steps) > 1:
        try:
            return [str(n) for n in pipeline[:-1].get_feature_names_out()]
        except Exception:  # a step without get_feature_names_out: fall through
            pass
    names = getattr(steps[-1][1] if steps else pipeline, "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    return list(features)[:count]


def _source_feature(name: str, features: Sequence[str]) -> str | None:
    bare = name.split("__", 1)[-1]
    if bare in features:
        return bare
    candidates = [f for f in features if bare.startswith(f"{f}_")]
    return max(candidates, key=len) if candidates else None
