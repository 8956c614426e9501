"""Retraining: recommended on evidence, started through a named pipeline, and gated.

Drift alone is not evidence that a model got worse. Retraining is recommended when

* labels have arrived (enough of them) and measured performance is worse than the
  evaluation by more than the tolerance; or
* labels have not arrived yet and at least one of the model's most important features
  drifted (the best early sign available, and said to be so).

A recommended retraining starts only on new evidence (a newer validated version of the
training table, or labels landed since the champion was registered); it runs the
pipeline the rule names, registers the model its run logged as a new version (stage
``candidate``), replays recent labeled live traffic through champion and challenger
(paired, with a CI; a challenger worse beyond doubt stops there) and asks the promotion
gates to move it to ``staging`` (never ``production``: a separate, gated decision).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from lockgate.config import Settings
from lockgate.errors import LockgateError
from lockgate.monitoring.alert_rule import RetrainSpec
from lockgate.monitoring.replay import replay
from lockgate.monitoring.root_cause import FeatureCause
from lockgate.monitoring.watched_model import WatchedModel
from lockgate.registry import Registry, promote
from lockgate.registry.gates import GateConfig
from lockgate.store import Store

MIN_LABELS_FOR_EVIDENCE = 30

#: Runs a pipeline reference with params and returns the id of its (pipeline) run.
PipelineRunner = Callable[[str, Mapping[str, Any]], str]


class RetrainingError(LockgateError, RuntimeError):
    """Retraining could not start, or its run produced no model to register."""


@dataclass(frozen=True, slots=True)
class RetrainingDecision:
    """Whether retraining is warranted, on which evidence, in one sentence."""

    recommended: bool
    basis: str  # performance | important_drift | none
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RetrainingOutcome:
    """What a triggered retraining did."""

    decision: RetrainingDecision
    triggered: bool
    pipeline: str | None = None
    pipeline_run_id: str | None = None
    training_run_id: str | None = None
    model_version: int | None = None
    promoted_to: str | None = None
    gates: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def gated(self) -> bool:
        """Whether the new version went through the promotion gates."""
        return bool(self.gates)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, stored with the incident."""
        out = asdict(self)
        out["gated"] = self.gated
        return out


def recommend(performance: Mapping[str, Any], degradation: tuple[str | None, float | None],
              features: Sequence[FeatureCause], *, tolerance: float, top_features: int
              ) -> RetrainingDecision:
    """Decide whether the evidence warrants retraining.

    Args:
        performance: the window's live performance (``n_labeled``, ``metrics``...).
        degradation: ``(metric, amount)`` from :func:`performance.degradation`.
        features: ranked feature causes (drift and importance).
        tolerance: degradation (metric units) above which performance counts as worse.
        top_features: how many of the most important features count as important.
    """
    n_labeled = int(performance.get("n_labeled", 0))
    metric, amount = degradation
    if n_labeled >= MIN_LABELS_FOR_EVIDENCE and metric is not None and amount is not None:
        evidence = {"metric": metric, "degradation": amount, "n_labeled": n_labeled,
                    "tolerance": tolerance}
        if amount > tolerance:
            return RetrainingDecision(True, "performance", (
                f"measured {metric} is {amount:.3f} worse than at evaluation on {n_labeled} "
                f"labeled predictions (tolerance {tolerance:g})"), evidence)
        return RetrainingDecision(False, "none", (
            f"measured {metric} is within {tolerance:g} of the evaluation on {n_labeled} "
            "labeled predictions: drift alone does not warrant retraining"), evidence)
    important = sorted(features, key=lambda f: -f.importance)[:top_features]
    drifted = [f for f in important if f.drifted]
    evidence = {"n_labeled": n_labeled, "important": [f.name for f in important],
                "important_drifted": [f.name for f in drifted]}
    if drifted:
        names = ", ".join(f"{f.name} (PSI {f.psi:.2f})" for f in drifted)
        return RetrainingDecision(True, "important_drift", (
            f"labels have not arrived yet ({n_labeled} labeled); among the "
            f"{len(important)} most important features {names} drifted"), evidence)
    return RetrainingDecision(False, "none", (
        f"labels have not arrived yet ({n_labeled} labeled) and none of the "
        f"{len(important)} most important features drifted"), evidence)


def new_evidence(model: WatchedModel, *, settings: Settings,
                 registered_at: float | None = None) -> tuple[bool, str, dict[str, Any]]:
    """Whether validated data exists that the model was not trained on.

    New evidence is a validated version of the training table newer than the one the
    model was trained on, or labeled feedback (``_labeled_NAME``) landed after the model
    was registered. Without either, retraining would fit the same rows again and
    reproduce the champion (at best): the gates would refuse it, so it is not started.

    Returns:
        ``(found, reason, evidence)``.
    """
    from lockgate.monitoring.labeled_table import labeled_rows_since, labeled_table_name

    table, trained = model.lineage.get("table"), model.lineage.get("dataset_version")
    newer: list[str] = []
    if table and trained is not None:
        try:
            versions = Store.open(settings).dataset_versions(str(table))
        except LookupError:
            versions = []
        newer = [v.ref for v in versions if v.version > int(trained)
                 and v.validation_status == "passed" and v.rows_accepted > 0]
    labeled = labeled_rows_since(settings, model.name, registered_at or 0.0)
    evidence = {"training_table": table, "trained_on": trained, "newer_versions": newer,
                "labeled_table": labeled_table_name(model.name), "new_labeled_rows": labeled}
    since = f"{table} v{trained}" if table and trained is not None else "training"
    if not newer and not labeled:
        return False, (f"no new data since {since}: retraining would reproduce the "
                       "champion"), evidence
    parts = ([f"{len(newer)} newer validated version(s) of {table} ({', '.join(newer)})"]
             if newer else []) + ([f"{labeled} new labeled rows in "
                                   f"{labeled_table_name(model.name)}"] if labeled else [])
    return True, " and ".join(parts), evidence


def require_new_evidence(model: WatchedModel, decision: RetrainingDecision, *,
                         settings: Settings, registered_at: float | None = None
                         ) -> RetrainingDecision:
    """A recommended retraining stays recommended only on data the champion has not seen;
    otherwise the decision says why it is not started."""
    if not decision.recommended:
        return decision
    found, reason, evidence = new_evidence(model, settings=settings,
                                           registered_at=registered_at)
    merged = {**decision.evidence, "new_data": evidence}
    if not found:
        return RetrainingDecision(False, "no_new_data", f"{decision.reason}; but {reason}",
                                  merged)
    return RetrainingDecision(True, decision.basis, f"{decision.reason}; new data: {reason}",
                              merged)


def retrain(model: WatchedModel, spec: RetrainSpec, decision: RetrainingDecision, *,
            settings: Settings, runner: PipelineRunner | None = None,
            gate_config: GateConfig | None = None) -> RetrainingOutcome:
    """Run the rule's pipeline, register its model and send it through the gates.

    Nothing happens when the decision does not recommend retraining. Failures are
    returned in the outcome (``error``), not raised: the monitor keeps watching.
    """
    if not decision.recommended:
        return RetrainingOutcome(decision, False, spec.pipeline)
    runner = runner or default_runner(settings)
    try:
        run_id = runner(spec.pipeline, spec.params)
        store = Store.open(settings)
        training_run = find_training_run(store, run_id)
        return _register_and_gate(model, spec, decision, settings, store, run_id,
                                  training_run, gate_config)
    except LockgateError as exc:
        return RetrainingOutcome(decision, True, spec.pipeline, error=str(exc))


def _register_and_gate(model: WatchedModel, spec: RetrainSpec, decision: RetrainingDecision,
                       settings: Settings, store: Store, run_id: str, training_run: str,
                       gate_config: Any) -> RetrainingOutcome:
    registry = Registry(store, settings)
    reference = _reference_profile(store, registry, training_run)
    mv = registry.register(model.name, training_run, contract=model.contract,
                           reference_profile=reference, holdout=_holdout(store, settings,
                                                                         training_run),
                           description=f"retrained by monitoring: {decision.reason}")
    replayed = replay(model, registry.load(mv).pipeline, settings=settings,
                      rows=_held_back(store, settings, model.name, training_run))
    if replayed is not None and replayed.worse:  # worse on live traffic: no promotion
        registry.transition_refused(model.name, mv.version, spec.promote_to,
                                    reason="worse than the champion on replayed traffic",
                                    gates=[replayed.gate()])
        return RetrainingOutcome(decision, True, spec.pipeline, run_id, training_run,
                                 mv.version, None, [replayed.gate()])
    result = promote(registry, model.name, mv.version, to=spec.promote_to, config=gate_config,
                     reason=f"monitoring retraining: {decision.reason}",
                     raise_on_failure=False)
    gates = [g.to_dict() for g in result.gates] + ([replayed.gate()] if replayed else [])
    return RetrainingOutcome(
        decision, True, spec.pipeline, run_id, training_run, mv.version,
        spec.promote_to if result.promoted else None, gates)


def find_training_run(store: Store, run_id: str) -> str:
    """The run (the pipeline run or one of its descendants) that logged a model and its
    evaluation, newest first.

    A tracked run (``lockgate.modeling.train``) names them ``model`` / ``evaluation``; a
    pipeline step run names its outputs ``<step>.model`` / ``<step>.evaluation``: both
    count, and a step's outputs get registry-readable names (the same stored bytes).

    Raises:
        RetrainingError: no such run under ``run_id``.
    """
    pending = [run_id]
    found = []
    while pending:
        current = pending.pop()
        if {"model", "evaluation"} <= set(_by_base_name(store, current)):
            found.append(store.get_run(current))
        pending.extend(r.id for r in store.list_runs(parent_id=current, limit=None))
    if not found:
        raise RetrainingError(
            f"Retraining run {run_id} logged no `model` and `evaluation` artifacts, so there "
            "is nothing to register. The pipeline must train with "
            "`lockgate.modeling.train` (which logs both) or have a step with outputs named "
            "`model` and `evaluation`.")
    training_run = max(found, key=lambda r: r.start_time).id
    _name_for_registry(store, training_run)
    return training_run


def _by_base_name(store: Store, run_id: str) -> dict[str, Any]:
    """A run's artifacts by name, ``<step>.<output>`` also under ``<output>``."""
    out: dict[str, Any] = {}
    for record in store.artifacts(run_id):
        out.setdefault(record.name.rsplit(".", 1)[-1], record)
        out[record.name] = record
    return out


def _name_for_registry(store: Store, run_id: str) -> None:
    exact = {a.name for a in store.artifacts(run_id)}
    for base, record in _by_base_name(store, run_id).items():
        if base in _REGISTRY_NAMES and base not in exact:
            store.add_artifact(run_id=run_id, name=base, uri=record.uri, sha256=record.sha256,
                               size=record.size, media_type=record.media_type,
                               materializer=record.materializer)


_REGISTRY_NAMES = ("model", "evaluation", "reference_profile", "holdout")


def _held_back(store: Store, settings: Settings, model_name: str, training_run: str
               ) -> Any:
    """The labeled rows the training run held back for the replay (its dataset record's
    ``labeled``), or None when it trained without the labeled table."""
    from lockgate.artifacts import ArtifactStore
    from lockgate.monitoring.retraining_data import replay_rows

    records = {a.name: a for a in store.artifacts(training_run)}
    evaluation = ArtifactStore.open(settings).load(records["evaluation"])
    if hasattr(evaluation, "to_dict"):
        evaluation = evaluation.to_dict()
    labeled = (dict(evaluation).get("dataset") or {}).get("labeled")
    return replay_rows(settings, model_name, labeled)


def _holdout(store: Store, settings: Settings, training_run: str) -> Any:
    """The holdout rows the training run logged (artifact ``holdout``), for the paired
    champion / challenger gate; None when it logged none."""
    from lockgate.artifacts import ArtifactStore

    records = {a.name: a for a in store.artifacts(training_run)}
    if "holdout" not in records:
        return None
    return ArtifactStore.open(settings).load(records["holdout"])


def _reference_profile(store: Store, registry: Any, training_run: str) -> dict[str, Any]:
    """The new model's reference profile: the profile of the data it was trained on.

    Taken from a ``reference_profile`` artifact of the training run when it logged one,
    else from the quality stage's stored profile of the dataset version it trained on.
    """
    from lockgate.artifacts import ArtifactStore

    artifacts = ArtifactStore.open(registry.settings)
    records = {a.name: a for a in store.artifacts(training_run)}
    if "reference_profile" in records:
        return dict(artifacts.load(records["reference_profile"]))
    evaluation = artifacts.load(records["evaluation"])
    if hasattr(evaluation, "to_dict"):
        evaluation = evaluation.to_dict()
    dataset = dict(evaluation).get("dataset") or {}
    if dataset.get("table"):
        return _table_profile(str(dataset["table"]), dataset.get("version"), registry.settings)
    raise RetrainingError(
        f"Cannot find the training data profile of run {training_run} (dataset "
        f"{dataset or 'not recorded'}); the new model needs it as its drift reference. "
        "Log it as artifact `reference_profile` in the training step.")


def _table_profile(table: str, version: int | None, settings: Settings) -> dict[str, Any]:
    """The quality profile of a dataset version: the stored one when the quality stage
    keeps it (``profile_for``), else computed from the table as of that version."""
    from lockgate import quality
    from lockgate.data import contract_for, read

    profile_for = getattr(quality, "profile_for", None)
    if profile_for is not None:
        return profile_for(table, version, settings=settings).to_dict()
    frame = read(table, version, settings=settings)
    return quality.profile(frame, contract=contract_for(table, version, settings=settings)
                           ).to_dict()


def default_runner(settings: Settings) -> PipelineRunner:
    """Run a pipeline reference (``path/to/pipelines.py:train``) with ``lockgate.pipelines``
    on the local executor; ``params`` are ``{step: {argument: value}}``."""

    def run(ref: str, params: Mapping[str, Any]) -> str:
        from lockgate.pipelines import RunOptions, load_pipeline, run_pipeline

        pipeline, normalised = load_pipeline(ref)
        result = run_pipeline(pipeline, dict(params) or None, options=RunOptions(
            settings=settings, ref=normalised, experiment="retraining",
            tags={"lockgate.trigger": "monitoring"}))
        if not result.ok:
            raise RetrainingError(
                f"Retraining pipeline {ref} ended {result.status} (run {result.run_id}): "
                f"{result.error}. Inspect it with `lockgate pipelines show {result.run_id}`.")
        return result.run_id

    return run
