"""Alert rules: a measure, a comparison with a threshold, a window and a minimum sample.

A rule is data (parsed from the monitoring YAML); :meth:`AlertRule.evaluate` turns the
measures of one window into an outcome the incident logic acts on. A rule never fires on
too few samples: that outcome is ``insufficient``, which neither opens nor resolves an
incident.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lockgate.errors import LockgateError, close_matches
from lockgate.monitoring.duration import DurationError, parse_duration


class AlertConfigError(LockgateError, ValueError):
    """The monitoring config (rules, sinks) is malformed; the message lists every problem."""


@dataclass(frozen=True, slots=True)
class Measure:
    """A quantity a window reports and a rule can watch."""

    name: str
    default_op: str
    samples: str  # "predictions" or "labels": what min_samples counts
    description: str


_MEASURES = [
    Measure("drift.share_drifted", ">", "predictions", "share of input features that drifted"),
    Measure("drift.max_psi", ">", "predictions", "largest PSI of any input feature"),
    Measure("drift.important_drifted", ">", "predictions",
            "share of the most important features that drifted"),
    Measure("prediction_drift.psi", ">", "predictions", "PSI of the prediction distribution"),
    Measure("contract.violation_rate", ">", "predictions",
            "share of live rows breaking a contract check"),
    Measure("performance.degradation", ">", "labels",
            "how much worse the live primary metric is than the evaluation's (positive = worse)"),
    Measure("performance.accuracy", "<", "labels", "live accuracy"),
    Measure("performance.roc_auc", "<", "labels", "live ROC AUC (binary)"),
    Measure("performance.log_loss", ">", "labels", "live log loss (binary)"),
    Measure("performance.brier", ">", "labels", "live Brier score (binary)"),
    Measure("performance.rmse", ">", "labels", "live RMSE (regression)"),
    Measure("performance.mae", ">", "labels", "live MAE (regression)"),
    Measure("latency.mean_ms", ">", "predictions",
            "mean latency per prediction (a request's latency shared by its rows)"),
    Measure("latency.p50_ms", ">", "predictions", "median latency per prediction"),
    Measure("latency.p95_ms", ">", "predictions", "95th percentile latency per prediction"),
    Measure("latency.p99_ms", ">", "predictions", "99th percentile latency per prediction"),
    Measure("latency.request_p50_ms", ">", "predictions", "median latency of a request"),
    Measure("latency.request_p99_ms", ">", "predictions",
            "99th percentile latency of a request (whole batch)"),
    Measure("requests.mean_rows", ">", "predictions", "mean rows per request"),
    Measure("cost.compute_ms_per_1k", ">", "predictions",
            "CPU milliseconds of the model calls per 1,000 predictions"),
    Measure("volume.predictions", "<", "predictions", "predictions in the window"),
    Measure("shadow.agreement", "<", "predictions",
            "share of requests where the shadow version predicts what production does"),
    Measure("shadow.accuracy_difference", ">", "labels",
            "shadow accuracy minus production accuracy on the same labeled requests"),
    Measure("labels.coverage", "<", "predictions", "share of predictions with ground truth"),
    Measure("labels.delay_p50_s", ">", "labels", "median seconds from prediction to label"),
]

#: Every measure a rule may watch, by name.
MEASURES: dict[str, Measure] = {m.name: m for m in _MEASURES}

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
}
SEVERITIES = ("info", "warning", "critical")
RETRAIN_TARGETS = ("candidate", "staging")


@dataclass(frozen=True, slots=True)
class RetrainSpec:
    """The pipeline an alert may start, and how far its model may be promoted (never
    production: the promotion gates decide that, later, on their own evidence)."""

    pipeline: str
    params: dict[str, Any] = field(default_factory=dict)
    promote_to: str = "staging"


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """What one rule concluded about one window."""

    rule: str
    state: str  # firing | ok | insufficient | unavailable
    value: float | None
    threshold: float
    op: str
    samples: int
    min_samples: int
    window_seconds: float

    @property
    def firing(self) -> bool:
        """Whether the rule's condition holds on enough samples."""
        return self.state == "firing"

    def describe(self, measure: str) -> str:
        """One line a person reads: ``drift.max_psi = 0.41 > 0.25 (n=1200)``."""
        if self.value is None:
            return f"{measure}: no value ({self.state}, n={self.samples})"
        return f"{measure} = {self.value:.4g} {self.op} {self.threshold:g} (n={self.samples})"


@dataclass(frozen=True, slots=True)
class AlertRule:
    """A threshold on a measure over a window, with a minimum sample size."""

    name: str
    measure: str
    threshold: float
    window_seconds: float
    op: str = ">"
    min_samples: int = 100
    severity: str = "warning"
    retrain: RetrainSpec | None = None
    description: str = ""

    @property
    def sample_kind(self) -> str:
        """``labels`` for performance measures, else ``predictions``."""
        return MEASURES[self.measure].samples

    def evaluate(self, measures: Mapping[str, float | None], samples: Mapping[str, int]
                 ) -> RuleOutcome:
        """Compare this window's measure with the threshold.

        Args:
            measures: the window's measures by name (missing or None: not computable).
            samples: ``{"predictions": n, "labels": n_labeled}`` of the window.
        """
        n = int(samples.get(self.sample_kind, 0))
        value = measures.get(self.measure)
        if value is not None and (isinstance(value, float) and math.isnan(value)):
            value = None
        if n < self.min_samples:
            state = "insufficient"
        elif value is None:
            state = "unavailable"
        else:
            state = "firing" if _OPS[self.op](float(value), self.threshold) else "ok"
        return RuleOutcome(self.name, state, None if value is None else float(value),
                           self.threshold, self.op, n, self.min_samples, self.window_seconds)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (as written in the config)."""
        out: dict[str, Any] = {
            "name": self.name, "measure": self.measure, "op": self.op,
            "threshold": self.threshold, "window_seconds": self.window_seconds,
            "min_samples": self.min_samples, "severity": self.severity,
        }
        if self.retrain:
            out["retrain"] = {"pipeline": self.retrain.pipeline, "params": self.retrain.params,
                              "promote_to": self.retrain.promote_to}
        return out


def parse_rules(raw: Any, *, source: str = "config", default_window: str = "1h"
                ) -> tuple[list[AlertRule], list[str]]:
    """Parse the ``rules:`` list, collecting every problem instead of stopping at the first.

    Returns:
        The rules that parsed, and the problems found (empty when all is well).
    """
    if raw is None:
        return [], []
    if not isinstance(raw, list):
        return [], [f"{source}: `rules` must be a list of mappings, found {type(raw).__name__}."]
    rules: list[AlertRule] = []
    problems: list[str] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        where = f"{source}: rules[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{where} must be a mapping, found {type(item).__name__}.")
            continue
        rule, found = _parse_rule(item, where, default_window)
        problems.extend(found)
        if rule is None:
            continue
        if rule.name in seen:
            problems.append(f"{where}: rule name `{rule.name}` is used twice; names must be "
                            "unique because incidents are keyed by them.")
        seen.add(rule.name)
        rules.append(rule)
    return rules, problems


_RULE_KEYS = {"name", "measure", "threshold", "op", "window", "min_samples", "severity",
              "retrain", "description"}


def _parse_rule(item: dict[str, Any], where: str, default_window: str
                ) -> tuple[AlertRule | None, list[str]]:
    problems = [f"{where}: unknown key `{k}`.{close_matches(str(k), _RULE_KEYS)} "
                f"Valid keys: {', '.join(sorted(_RULE_KEYS))}."
                for k in item if k not in _RULE_KEYS]
    measure = item.get("measure")
    if measure not in MEASURES:
        problems.append(f"{where}: unknown measure `{measure}`."
                        f"{close_matches(str(measure), MEASURES)} Valid measures: "
                        f"{', '.join(MEASURES)}.")
    name = item.get("name") or (measure if isinstance(measure, str) else None)
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{where}: `name` must be a non-empty string.")
    threshold = item.get("threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        problems.append(f"{where}: `threshold` must be a number, found {threshold!r}.")
    op = item.get("op", MEASURES[measure].default_op if measure in MEASURES else ">")
    if op not in _OPS:
        problems.append(f"{where}: `op` must be one of {', '.join(_OPS)}, found {op!r}.")
    try:
        window = parse_duration(item.get("window", default_window), where=f"{where}: window")
    except DurationError as exc:
        problems.append(str(exc))
        window = 0.0
    min_samples = item.get("min_samples", 100)
    if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 0:
        problems.append(f"{where}: `min_samples` must be a whole number >= 0, "
                        f"found {min_samples!r}.")
    severity = item.get("severity", "warning")
    if severity not in SEVERITIES:
        problems.append(f"{where}: `severity` must be one of {', '.join(SEVERITIES)}, "
                        f"found {severity!r}.")
    retrain, retrain_problems = _parse_retrain(item.get("retrain"), where)
    problems.extend(retrain_problems)
    if problems:
        return None, problems
    return AlertRule(
        name=str(name), measure=str(measure), threshold=float(threshold),  # type: ignore[arg-type]
        window_seconds=window, op=str(op), min_samples=int(min_samples),
        severity=str(severity), retrain=retrain, description=str(item.get("description", "")),
    ), []


def _parse_retrain(raw: Any, where: str) -> tuple[RetrainSpec | None, list[str]]:
    if raw is None:
        return None, []
    if isinstance(raw, str):
        raw = {"pipeline": raw}
    if not isinstance(raw, dict):
        return None, [f"{where}: `retrain` must be a pipeline reference or a mapping with "
                      "`pipeline`."]
    problems = []
    pipeline = raw.get("pipeline")
    if not isinstance(pipeline, str) or not pipeline.strip():
        problems.append(f"{where}: `retrain.pipeline` must name a pipeline, e.g. "
                        "`pipelines.py:train`.")
    params = raw.get("params", {})
    if not isinstance(params, dict):
        problems.append(f"{where}: `retrain.params` must be a mapping.")
    promote_to = raw.get("promote_to", "staging")
    if promote_to not in RETRAIN_TARGETS:
        problems.append(
            f"{where}: `retrain.promote_to` is {promote_to!r}; a retrained model may only go "
            f"to {' or '.join(RETRAIN_TARGETS)}. Production is reached through "
            "`lockgate models promote NAME VERSION --to production`, which runs the gates."
        )
    if problems:
        return None, problems
    return RetrainSpec(str(pipeline), dict(params), str(promote_to)), []
