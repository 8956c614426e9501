"""Offline monitoring: the monitor's drift, prediction-drift, contract and performance
report on two datasets, without a server (what an Evidently user expects).

``reference`` and ``current`` are frames (Polars or pandas), files (CSV, Parquet, JSON
Lines) or lockgate tables (``orders@v3``). With a model, both are scored with it and
its predictions compared too; with labels (a column of ``current``, by default the
contract's target when present), live performance is measured on ``current`` and
compared with the model's evaluation, exactly as the monitor does on a window.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from lockgate.config import Settings, load_settings
from lockgate.data import Contract, load_contract
from lockgate.data.contract import ContractInput
from lockgate.data.normalize import map_columns, normalize
from lockgate.errors import LockgateError
from lockgate.monitoring.contract_check import count_violations
from lockgate.monitoring.performance import degradation, label_strings, live_performance
from lockgate.monitoring.watched_model import WatchedModel, watch
from lockgate.quality import DriftConfig, drift, profile
from lockgate.registry.prediction_profile import prediction_frame
from lockgate.serving.batch_input import open_input
from lockgate.user_types import FrameLike


class ComparisonError(LockgateError, ValueError):
    """The two datasets cannot be compared as asked."""


@dataclass(frozen=True, slots=True)
class Comparison:
    """The report on ``current`` against ``reference``.

    Attributes:
        drift: one row per compared feature (name, kind, psi, drifted, ...).
        share_drifted: share of compared features that drifted.
        prediction_drift: drift of the model's outputs (None without a model).
        violations: contract checks failed in ``current`` (``__any__``: rows with any).
        performance: metrics on the labeled rows of ``current`` (empty without labels).
        degradation: ``(metric, amount)`` worse than the model's evaluation.
    """

    reference: str
    current: str
    rows_reference: int
    rows_current: int
    drift: list[dict[str, Any]] = field(default_factory=list)
    share_drifted: float = 0.0
    prediction_drift: dict[str, Any] | None = None
    violations: dict[str, int] = field(default_factory=dict)
    performance: dict[str, Any] = field(default_factory=dict)
    degradation: tuple[str | None, float | None] = (None, None)
    model: str | None = None

    @property
    def drifted_features(self) -> list[str]:
        """Names of the features that drifted."""
        return [row["name"] for row in self.drift if row["drifted"]]

    def summary(self) -> str:
        """One paragraph, as the monitor's root cause reads."""
        parts = [f"{len(self.drifted_features)} of {len(self.drift)} features drifted"
                 + (f" ({', '.join(self.drifted_features[:5])})" if self.drifted_features
                    else "")]
        if self.prediction_drift is not None:
            parts.append(f"prediction PSI {self.prediction_drift['psi']:.3f}")
        if self.rows_current:
            parts.append(f"{self.violations.get('__any__', 0) / self.rows_current:.1%} of "
                         "current rows break the contract")
        metric, amount = self.degradation
        if metric is not None and amount is not None:
            parts.append(f"{metric} {amount:+.3f} worse than at evaluation on "
                         f"{self.performance.get('n_labeled', 0)} labeled rows")
        return "; ".join(parts) + "."

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (``lockgate monitor compare --json``)."""
        return {**asdict(self), "drifted_features": self.drifted_features,
                "summary": self.summary()}


def compare(reference: FrameLike | str | Path, current: FrameLike | str | Path, *,
            model: str | WatchedModel | None = None, labels: str | None = None,
            contract: ContractInput | None = None,
            settings: Settings | None = None) -> Comparison:
    """Compare two datasets as the monitor compares a window with its reference.

    Args:
        reference / current: frames, file paths or ``TABLE[@VERSION]``.
        model: a registered model (``churn@production``) or a :class:`WatchedModel`:
            its contract types and checks the data, and its predictions are compared.
        labels: the column of ``current`` holding ground truth (default: the contract's
            target, when ``current`` has it). Needs ``model``.
        contract: the contract to use without a model (default: the table's, if any).

    Raises:
        ComparisonError: nothing to compare, or labels without a model.
    """
    settings = settings or load_settings()
    watched = watch(model, settings) if isinstance(model, str) else model
    spec = _contract(watched, contract, reference, current, settings)
    ref_frame, ref_label = _load(reference, spec, settings)
    cur_frame, cur_label = _load(current, spec, settings)
    features = (watched.features if watched is not None else
                [c for c in ref_frame.columns if c in cur_frame.columns])
    features = [f for f in features if f in ref_frame.columns and f in cur_frame.columns]
    if not features:
        raise ComparisonError(f"{ref_label} and {cur_label} share no feature column to "
                              "compare.")
    config = DriftConfig(columns=tuple(features))
    report = drift(profile(ref_frame.select(features), contract=spec),
                   profile(cur_frame.select(features), contract=spec), config)
    rows = [{**_row(f)} for f in report.features]
    out: dict[str, Any] = {
        "violations": count_violations(cur_frame.select(features), spec) if spec else {}}
    if watched is not None:
        out.update(_with_model(watched, ref_frame, cur_frame,
                               labels or (spec.target if spec else None)))
    elif labels:
        raise ComparisonError("Labels need a model to score: pass `model=NAME@ALIAS`.")
    return Comparison(ref_label, cur_label, ref_frame.height, cur_frame.height, rows,
                      report.share_drifted, model=(f"{watched.name}@{watched.version}"
                                                   if watched else None), **out)


def _with_model(model: WatchedModel, reference: pl.DataFrame, current: pl.DataFrame,
                labels: str | None) -> dict[str, Any]:
    problem = model.problem_type
    ref_out = prediction_frame(model.pipeline, reference, model.features, problem)
    cur_out = prediction_frame(model.pipeline, current, model.features, problem)
    column = "probability" if "probability" in cur_out.columns else "prediction"
    psi = drift(profile(ref_out.select(column)), profile(cur_out.select(column)),
                DriftConfig(columns=(column,))).features
    out: dict[str, Any] = {"prediction_drift": _row(psi[0]) if psi else None}
    if labels and labels in current.columns:
        epoch = pl.lit(0).cast(pl.Datetime("us", "UTC"))  # offline: no label delay
        joined = cur_out.with_columns(
            label_strings(current[labels]).alias("label"), epoch.alias("timestamp"),
            epoch.alias("label_timestamp")).filter(pl.col("label").is_not_null())
        perf = live_performance(joined, current.height, problem,
                                positive_label=model.positive_label)
        perf = dataclasses.replace(perf, delay_p50_s=None, delay_p90_s=None)
        out["performance"] = perf.to_dict()
        out["degradation"] = degradation(perf.metrics, model.evaluation)
    return out


def _contract(model: WatchedModel | None, contract: ContractInput | None,
              reference: FrameLike | str | Path, current: FrameLike | str | Path,
              settings: Settings) -> Contract | None:
    if model is not None:
        return model.contract
    if contract is not None:
        return load_contract(contract)
    for source in (current, reference):
        if isinstance(source, str) and not Path(source).exists():
            from lockgate.data import contract_for
            from lockgate.data.tables import parse_table_ref

            table, version = parse_table_ref(source)
            return contract_for(table, version, settings=settings)
    return None


def _load(source: FrameLike | str | Path, spec: Contract | None, settings: Settings
          ) -> tuple[pl.DataFrame, str]:
    """A frame typed by the contract (mapped and parsed as at ingestion), and its label."""
    if isinstance(source, pl.DataFrame):
        frame, label = source, "frame"
    elif hasattr(source, "columns") and hasattr(source, "to_dict"):  # pandas
        frame, label = pl.from_pandas(source), "frame"
    else:
        opened = open_input(source, settings)
        frame = pl.concat(list(opened.chunks(1_000_000)), how="vertical_relaxed")
        label = opened.label
    if spec is None:
        return frame, label
    contract = spec
    mapping = map_columns(frame.columns, contract)
    typed = normalize(frame, contract, mapping)
    present = set(mapping.matched.values())
    return typed.select([c for c in contract.column_names if c in present]), label


def _row(feature: Any) -> dict[str, Any]:
    data = feature.to_dict() if hasattr(feature, "to_dict") else dict(vars(feature))
    return {"name": data["name"], "kind": data.get("kind"),
            "psi": float(data.get("psi") or 0.0), "statistic": data.get("statistic"),
            "threshold": data.get("threshold"), "drifted": bool(data.get("drifted"))}
