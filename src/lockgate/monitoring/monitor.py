"""The monitor: per window, everything known about a served model, and what to do.

One pass of :func:`run_monitor` builds the window of every rule's length from stored
bucket profiles (see ``window.py``), measures it (input drift against the package's
reference profile, prediction drift against the package's profile of its holdout
predictions (the first live traffic for packages without one), contract checks,
live performance with label delay, latency and cost), records the measurements, turns
the rules' outcomes into incidents (one alert per incident, one resolve), explains new
incidents (root cause) and, when a rule says so and the evidence holds, starts a
gated retraining.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import sqlalchemy as sa

from lockgate.config import Settings
from lockgate.monitoring import incident as inc
from lockgate.monitoring.alert_rule import AlertRule, RetrainSpec, RuleOutcome
from lockgate.monitoring.config import MonitorConfig
from lockgate.monitoring.latency_cause import is_latency_measure, latency_cause
from lockgate.monitoring.performance import (
    LivePerformance,
    degradation,
    join_labels,
    live_performance,
)
from lockgate.monitoring.retraining import (
    PipelineRunner,
    recommend,
    require_new_evidence,
    retrain,
)
from lockgate.monitoring.root_cause import analyse, feature_importance, rank_features
from lockgate.monitoring.shadow_report import shadow_difference
from lockgate.monitoring.watched_model import WatchedModel
from lockgate.monitoring.window import (
    BucketProfile,
    WindowSpan,
    require_log,
    scan_log,
    window_profile,
    window_span,
)
from lockgate.quality import DriftConfig, Profile, drift
from lockgate.registry.gates import GateConfig
from lockgate.serving.prediction_log import feedback_path
from lockgate.store import Store
from lockgate.store.tables_monitoring import monitor_windows as t_windows


@dataclass(frozen=True, slots=True)
class WindowResult:
    """The measurements of one window."""

    model_name: str
    model_version: int | None
    start: float
    end: float
    n_predictions: int
    n_labeled: int
    measures: dict[str, float | None]
    drift: list[dict[str, Any]]
    prediction_drift: dict[str, Any] | None
    violations: dict[str, int]
    performance: dict[str, Any]
    versions: dict[str, int]
    buckets: dict[str, int]
    window_id: int | None = None
    #: the shadow version's live difference on the same requests (None without one)
    shadow: dict[str, Any] | None = None

    @property
    def samples(self) -> dict[str, int]:
        """What rules' ``min_samples`` count."""
        return {"predictions": self.n_predictions, "labels": self.n_labeled}

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class RuleReport:
    """A rule's outcome on its window and what the incident logic did."""

    rule: AlertRule
    outcome: RuleOutcome
    action: str
    incident: inc.Incident | None
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    retraining: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class MonitorRun:
    """One pass of the monitor over a model."""

    model_name: str
    end: float
    windows: dict[float, WindowResult]
    rules: list[RuleReport]

    @property
    def alerts(self) -> list[RuleReport]:
        """Rules that opened an incident in this pass."""
        return [r for r in self.rules if r.action == "opened"]

    @property
    def resolved(self) -> list[RuleReport]:
        """Rules whose incident resolved in this pass."""
        return [r for r in self.rules if r.action == "resolved"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (for ``--json``, and a pass run by ``lockgate server``)."""
        return {
            "model": self.model_name, "end": self.end,
            "windows": {str(k): v.to_dict() for k, v in self.windows.items()},
            "rules": [{"rule": r.rule.name, "measure": r.rule.measure,
                       "state": r.outcome.state, "value": r.outcome.value,
                       "threshold": r.outcome.threshold, "op": r.outcome.op,
                       "samples": r.outcome.samples, "action": r.action,
                       "incident": r.incident.to_dict() if r.incident else None,
                       "deliveries": r.deliveries, "retraining": r.retraining,
                       "definition": r.rule.to_dict()}
                      for r in self.rules],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MonitorRun:
        """The pass :meth:`to_dict` wrote (a server's answer to a client)."""
        return cls(str(data["model"]), float(data["end"]),
                   {float(k): WindowResult(**v) for k, v in data["windows"].items()},
                   [_rule_report(r) for r in data["rules"]])


def _rule_report(data: Mapping[str, Any]) -> RuleReport:
    rule = dict(data["definition"])
    retrain = rule.pop("retrain", None)
    outcome = RuleOutcome(str(data["rule"]), str(data["state"]), data["value"],
                          float(data["threshold"]), str(data["op"]), int(data["samples"]),
                          int(rule["min_samples"]), float(rule["window_seconds"]))
    found = data.get("incident")
    return RuleReport(AlertRule(**rule, retrain=RetrainSpec(**retrain) if retrain else None),
                      outcome, str(data["action"]), inc.Incident(**found) if found else None,
                      list(data.get("deliveries") or []), data.get("retraining"))


def measure_window(model: WatchedModel, span: WindowSpan, *, settings: Settings,
                   config: MonitorConfig, store: Store | None = None,
                   now: float | None = None, record: bool = True,
                   traffic_start: float | None = None) -> WindowResult:
    """Measure one window of a model's traffic and (by default) record it.

    Args:
        traffic_start: time of the model's first logged prediction (where the baseline
            for prediction drift starts); read from the log when not given, so a caller
            measuring several windows reads it once.

    Raises:
        NotFoundError: the model has no prediction log yet.
    """
    store = store or Store.open(settings)
    log = require_log(settings, model.name)
    merged, buckets = window_profile(store, settings, model.name, span,
                                     features=model.features, contract=model.contract, now=now)
    drift_rows = _input_drift(model, merged)
    if traffic_start is None and merged.predictions is not None:
        traffic_start = _first_prediction(settings, model.name)
    prediction = _prediction_drift(model, merged, span, traffic_start, settings, store,
                                   config, now)
    joined = join_labels(log, feedback_path(settings, model.name), span.start, span.end)
    perf = live_performance(joined, merged.n, model.problem_type,
                            positive_label=model.positive_label)
    measures = _measures(model, merged, drift_rows, prediction, perf, config)
    shadow = shadow_difference(settings.resolved_data_root / "_shadow" / model.name,
                               feedback_path(settings, model.name), span.start, span.end)
    if shadow is not None:
        measures["shadow.agreement"] = shadow["agreement"]
        labeled = shadow["labeled"] or {}
        measures["shadow.accuracy_difference"] = labeled.get("difference")
    result = WindowResult(
        model.name, merged.main_version if merged.n else model.version, span.start, span.end,
        merged.n, perf.n_labeled, measures, drift_rows, prediction, merged.violations,
        perf.to_dict(), merged.versions, buckets, shadow=shadow)
    if record:
        result = _record_window(store, result)
    return result


def run_monitor(model: WatchedModel, *, settings: Settings, config: MonitorConfig,
                end: float | None = None, now: float | None = None,
                runner: PipelineRunner | None = None, gate_config: GateConfig | None = None,
                progress: Callable[[str], None] | None = None) -> MonitorRun:
    """One monitoring pass: measure each rule's window, apply rules, alert, explain,
    and retrain where a rule asks for it and the evidence holds.

    Args:
        model: the watched model.
        settings: lockgate settings (store, data root).
        config: rules, sinks and window settings.
        end: end of the windows (default now).
        now: the clock, for buckets still open (default ``time.time()``).
        runner: how retraining pipelines run (default ``lockgate.pipelines``).
        gate_config: promotion gate config for retrained models (default: from config).
        progress: called with a short message per step (the CLI shows it).

    Behind ``lockgate server`` (``LOCKGATE_TRACKING_URI``) the server runs the pass over
    its data root with ``config``'s rules and windows, at ``end``/``now``; ``config``'s
    sinks and retraining then run here, with the caller's rights
    (:mod:`lockgate.monitoring.server_pass`).
    """
    store = Store.open(settings)
    if getattr(store, "remote", False):
        from lockgate.monitoring.server_pass import run_through_server

        return run_through_server(store, model, settings=settings, config=config, end=end,
                                  now=now, runner=runner, gate_config=gate_config)
    now = time.time() if now is None else now
    end = now if end is None else end
    lengths = sorted({r.window_seconds for r in config.rules} | {config.window_seconds})
    windows: dict[float, WindowResult] = {}
    start = _first_prediction(settings, model.name)
    for length in lengths:
        if progress:
            progress(f"measuring the {length:g}s window")
        span = window_span(end, length, config.bucket_seconds)
        windows[length] = measure_window(model, span, settings=settings, config=config,
                                         store=store, now=now, traffic_start=start)
    reports = []
    for rule in config.rules:
        if progress:
            progress(f"rule {rule.name}")
        window = windows[rule.window_seconds]
        reports.append(_apply_rule(model, rule, window, settings=settings, config=config,
                                   store=store, runner=runner, gate_config=gate_config))
    return MonitorRun(model.name, end, windows, reports)


def watch_forever(model: WatchedModel, *, settings: Settings, config: MonitorConfig,
                  every: float, passes: int | None = None,
                  on_pass: Callable[[MonitorRun], None] | None = None,
                  reload: Callable[[], WatchedModel] | None = None,
                  sleep: Callable[[float], None] = time.sleep) -> int:
    """Run :func:`run_monitor` every ``every`` seconds (``passes`` times, or forever).

    Args:
        reload: called before each pass after the first to get the model again, so a
            monitor watching ``name@production`` follows a promotion.

    Returns:
        How many passes ran.
    """
    def one(done: int) -> MonitorRun:
        nonlocal model
        if reload is not None and done:
            model = reload()
        return run_monitor(model, settings=settings, config=config)

    return repeat_passes(one, every=every, passes=passes, on_pass=on_pass, sleep=sleep)


def repeat_passes(run_pass: Callable[[int], MonitorRun], *, every: float,
                  passes: int | None = None,
                  on_pass: Callable[[MonitorRun], None] | None = None,
                  sleep: Callable[[float], None] = time.sleep) -> int:
    """Call ``run_pass(passes done so far)`` every ``every`` seconds (``passes`` times, or
    forever): the loop of :func:`watch_forever`, whoever runs the pass (here, or a server).

    Returns:
        How many passes ran.
    """
    done = 0
    while passes is None or done < passes:
        started = time.time()
        result = run_pass(done)
        done += 1
        if on_pass:
            on_pass(result)
        if passes is not None and done >= passes:
            break
        sleep(max(0.0, every - (time.time() - started)))
    return done


def _apply_rule(model: WatchedModel, rule: AlertRule, window: WindowResult, *,
                settings: Settings, config: MonitorConfig, store: Store,
                runner: PipelineRunner | None, gate_config: GateConfig | None) -> RuleReport:
    outcome = rule.evaluate(window.measures, window.samples)
    cause: dict[str, Any] | None = None
    if outcome.firing and inc.open_incident(store, model.name, rule.name) is None:
        cause = explain(model, window, settings=settings, store=store, measure=rule.measure)
    transition = inc.apply_outcome(store, model.name, rule, outcome,
                                   window=(window.start, window.end), root_cause=cause)
    deliveries: list[dict[str, Any]] = []
    if transition.event is not None:
        deliveries = inc.deliver(store, transition.event, config.sinks)
    retraining = None
    if wants_retraining(rule, transition.action, transition.incident):
        retraining = retrain_for_rule(model, rule, window, settings=settings, config=config,
                                      runner=runner, gate_config=gate_config)
        inc.set_retraining(store, transition.incident.id,  # type: ignore[union-attr]
                           retraining)
    incident = inc.get_incident(store, transition.incident.id) if transition.incident else None
    return RuleReport(rule, outcome, transition.action, incident, deliveries, retraining)


def wants_retraining(rule: AlertRule, action: str, incident: inc.Incident | None) -> bool:
    """A rule with a retraining whose incident just opened, or still fires with its
    retraining held back for lack of new data (decided again on every pass)."""
    return rule.retrain is not None and incident is not None and (
        action == "opened" or _waiting_for_data(inc.Transition(action, incident, None)))


def _waiting_for_data(transition: Any) -> bool:
    """An incident still firing whose retraining was held back for lack of new data:
    it is decided again on every pass, so labels that land later start it."""
    if transition.action != "continued" or transition.incident is None:
        return False
    decision = (transition.incident.retraining or {}).get("decision") or {}
    return decision.get("basis") == "no_new_data"


def explain(model: WatchedModel, window: WindowResult, *, settings: Settings,
            store: Store, measure: str = "") -> dict[str, Any]:
    """The root cause of whatever is wrong in ``window`` (as stored with incidents),
    matched to the alert's kind: a latency or cost alert is explained by the traffic's
    request sizes, model versions and CPU time; others by drift, slices and upstream
    data."""
    if is_latency_measure(measure):
        return latency_cause(require_log(settings, model.name), window.start,
                             window.end).to_dict()
    labeled = None
    if window.n_labeled:
        log = require_log(settings, model.name)
        labeled = join_labels(log, feedback_path(settings, model.name), window.start,
                              window.end, extra_columns=model.features)
    return analyse(model, window.drift, store=store, labeled=labeled,
                   performance=window.performance).to_dict()


def retrain_for_rule(model: WatchedModel, rule: AlertRule, window: WindowResult, *,
                     settings: Settings, config: MonitorConfig,
                     runner: PipelineRunner | None, gate_config: Any) -> dict[str, Any]:
    """Decide from ``window``'s evidence whether to retrain for ``rule``, and start it
    (the outcome's JSON form, as an incident records it)."""
    assert rule.retrain is not None
    features = rank_features(window.drift, feature_importance(model))
    decision = recommend(window.performance,
                         degradation(window.performance.get("metrics", {}), model.evaluation),
                         features, tolerance=config.degradation_tolerance,
                         top_features=config.top_features)
    decision = require_new_evidence(model, decision, settings=settings,
                                    registered_at=_registered_at(model, settings))
    outcome = retrain(model, rule.retrain, decision, settings=settings, runner=runner,
                      gate_config=gate_config)
    return outcome.to_dict()


def _registered_at(model: WatchedModel, settings: Settings) -> float | None:
    """When the watched version was registered (labels landed later are new to it)."""
    if model.version is None:
        return None
    from lockgate.registry import Registry

    try:
        return Registry(Store.open(settings), settings).get(model.name, model.version
                                                            ).created_at
    except LookupError:
        return None


def _input_drift(model: WatchedModel, merged: BucketProfile) -> list[dict[str, Any]]:
    if merged.features is None:
        return []
    reference = Profile.from_dict(model.reference_profile)
    current = merged.features
    names = [f for f in model.features if f in reference.columns and f in current.columns]
    if not names:
        return []
    report = drift(reference, current, DriftConfig(columns=tuple(names)))
    return [_feature_row(f) for f in report.features]


def _prediction_drift(model: WatchedModel, merged: BucketProfile, span: WindowSpan,
                      traffic_start: float | None, settings: Settings, store: Store,
                      config: MonitorConfig, now: float | None) -> dict[str, Any] | None:
    if merged.predictions is None:
        return None
    column = "probability" if "probability" in merged.predictions.columns else "prediction"
    if model.prediction_profile is not None:  # the model's own holdout predictions
        reference = Profile.from_dict(model.prediction_profile)
        source = {"source": "package", "n": reference.rows}
    else:  # older packages: the first span of live traffic, and say so
        if traffic_start is None:
            return None
        baseline = _baseline(model, span, merged, traffic_start, settings, store, config, now)
        if baseline is None or baseline.predictions is None:
            return None
        reference = baseline.predictions
        source = {"source": "first live traffic", "start": baseline.first_ts,
                  "end": baseline.last_ts, "n": baseline.n}
    if column not in reference.columns:
        return None
    report = drift(reference, merged.predictions, DriftConfig(columns=(column,)))
    if not report.features:
        return None
    row = _feature_row(report.features[0])
    row["baseline"] = source
    return row


def _first_prediction(settings: Settings, model_name: str) -> float | None:
    """Epoch of the model's first logged prediction (None for an empty log)."""
    first = (scan_log(require_log(settings, model_name))
             .select(pl.col("timestamp").min()).collect().item())
    return None if first is None else first.timestamp()


def _baseline(model: WatchedModel, span: WindowSpan, merged: BucketProfile, start: float,
              settings: Settings, store: Store, config: MonitorConfig, now: float | None
              ) -> BucketProfile | None:
    """The first ``baseline`` span of live traffic: the reference for prediction drift."""
    base_span = window_span(start + config.baseline_seconds, config.baseline_seconds,
                            config.bucket_seconds)
    if base_span.end > span.end:
        return None
    if base_span == span:
        return merged
    profile, _ = window_profile(store, settings, model.name, base_span,
                                features=model.features, contract=model.contract, now=now)
    return profile


def _measures(model: WatchedModel, merged: BucketProfile, drift_rows: list[dict[str, Any]],
              prediction: dict[str, Any] | None, perf: LivePerformance,
              config: MonitorConfig) -> dict[str, float | None]:
    n = merged.n
    importance = feature_importance(model)
    top = sorted(importance, key=lambda f: -importance[f])[:config.top_features]
    drifted = {row["name"] for row in drift_rows if row["drifted"]}
    _, amount = degradation(perf.metrics, model.evaluation)
    measures: dict[str, float | None] = {
        "drift.share_drifted": len(drifted) / len(drift_rows) if drift_rows else None,
        "drift.max_psi": max((row["psi"] for row in drift_rows), default=None),
        "drift.important_drifted": (sum(f in drifted for f in top) / len(top)
                                    if top and drift_rows else None),
        "prediction_drift.psi": prediction["psi"] if prediction else None,
        "contract.violation_rate": merged.violations.get("__any__", 0) / n if n else None,
        "performance.degradation": amount,
        "latency.mean_ms": merged.latency_sum_ms / n if n else None,
        "latency.p50_ms": merged.latency_quantile(0.5),
        "latency.p95_ms": merged.latency_quantile(0.95),
        "latency.p99_ms": merged.latency_quantile(0.99),
        "latency.request_p50_ms": merged.request_latency_quantile(0.5),
        "latency.request_p99_ms": merged.request_latency_quantile(0.99),
        "requests.mean_rows": n / merged.requests if merged.requests else None,
        "cost.compute_ms_per_1k": merged.cost_ms_per_1k,
        "volume.predictions": float(n),
        "labels.coverage": perf.coverage if n else None,
        "labels.delay_p50_s": perf.delay_p50_s,
    }
    for name, value in perf.metrics.items():
        measures[f"performance.{name}"] = value
    return measures


def _feature_row(feature: Any) -> dict[str, Any]:
    data = feature.to_dict() if hasattr(feature, "to_dict") else dict(vars(feature))
    return {"name": data["name"], "kind": data.get("kind"), "psi": float(data.get("psi") or 0.0),
            "js": data.get("js"), "statistic": data.get("statistic"),
            "threshold": data.get("threshold"), "p_value": data.get("p_value"),
            "drifted": bool(data.get("drifted")),
            "new_categories": list(data.get("new_categories") or []),
            "vanished_categories": list(data.get("vanished_categories") or [])}


def _record_window(store: Store, result: WindowResult) -> WindowResult:
    details = {"drift": result.drift, "prediction_drift": result.prediction_drift,
               "shadow": result.shadow,
               "violations": result.violations, "performance": result.performance,
               "versions": result.versions, "buckets": result.buckets}
    inserted = store.execute_write(sa.insert(t_windows).values(
        model_name=result.model_name, model_version=result.model_version,
        window_start=result.start, window_end=result.end, n_predictions=result.n_predictions,
        n_labeled=result.n_labeled, measures=json.dumps(result.measures),
        details=json.dumps(details, default=str), created_at=time.time()))
    data = result.to_dict()
    data["window_id"] = int(inserted.inserted_primary_key[0])
    return WindowResult(**data)
